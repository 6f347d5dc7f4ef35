//! 8. Soak: 1,000 ringing calls over two nodes, one killed midway: none left open, none ended twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster_support::*;
use crate::helpers::*;

const CALLS_EACH_WAY: usize = 500;
const RING_SECS: u64 = 8;
/// Reads wait this long: 2,000 sockets open on a shared two-core machine, beside other tests.
const SOAK_WAIT: Duration = Duration::from_secs(20);

async fn on(addr: &str, app: &TestApp, p: &Person) -> Ws {
    connect_waiting(addr, &app.token(p), SOAK_WAIT)
        .await
        .expect("socket refused")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_ringing_calls_survive_a_node_kill() {
    let (nodes, prefix) = in_process_nodes(1, &redis_url(), |s| {
        s.ring_timeout = Duration::from_secs(RING_SECS);
    })
    .await;
    let a = &nodes[0];
    let b = ProcNode::start(
        &schema_of(a),
        &redis_url(),
        &prefix,
        "node-b",
        &[("RING_TIMEOUT_SECS", "8")],
    )
    .await;
    // Each call in a tenant of its own: presence fan-out stays per call, not 2,000 × 2,000 frames.
    // Half the calls: caller on A, callee on B (A owns them; they ring out: MISSED).
    // The other half: caller on B, callee on A (B owns them; the callers vanish with B: CANCELLED).
    let addr_a = a.addr.to_string();
    let mut on_a = Vec::new();
    let mut on_b = Vec::new();
    for i in 0..CALLS_EACH_WAY {
        on_a.push(on(&addr_a, a, &customer(&format!("x{i}"), &format!("ca{i}"))).await);
        on_b.push(on(&b.addr, a, &agent(&format!("x{i}"), &format!("ab{i}"))).await);
    }
    let mut callers_b = Vec::new();
    let mut callees_a = Vec::new();
    for i in 0..CALLS_EACH_WAY {
        callers_b.push(on(&b.addr, a, &customer(&format!("y{i}"), &format!("cb{i}"))).await);
        callees_a.push(on(&addr_a, a, &agent(&format!("y{i}"), &format!("aa{i}"))).await);
    }
    let t0 = Instant::now();
    let mut ids = HashMap::new();
    for i in 0..CALLS_EACH_WAY {
        let ack = on_a[i]
            .request(json!({"type": "call.start", "calleeId": format!("ab{i}")}))
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
        ids.insert(ack["call"]["id"].as_str().unwrap().to_owned(), "MISSED");
        let ack = callers_b[i]
            .request(json!({"type": "call.start", "calleeId": format!("aa{i}")}))
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
        ids.insert(ack["call"]["id"].as_str().unwrap().to_owned(), "B");
    }
    let started = t0.elapsed();
    assert_eq!(ids.len(), 2 * CALLS_EACH_WAY);
    b.kill9().await;
    std::mem::forget(callers_b);
    std::mem::forget(on_b);
    // Every call ends: the B-owned ones when B's callers are seen gone, the rest at their deadline.
    let done = within(Duration::from_secs(RING_SECS + 8), "every call ended", || async {
        a.state.calls.open_counts().await.unwrap() == (0, 0)
    })
    .await;
    // Exactly once: each surviving device got one terminal frame for its call, and each row says the expected end.
    for ws in on_a.iter_mut() {
        let m = ws.next_of("call.missed").await;
        assert_eq!(ids[m["callId"].as_str().unwrap()], "MISSED");
    }
    // B's calls end CANCELLED when A sees their callers gone, or MISSED if
    // their deadline comes first (a loaded machine): either, once, and the
    // row says the same as the frame.
    let mut ended_as = HashMap::new();
    for ws in callees_a.iter_mut() {
        let c = ws
            .next_where("the call's end", |v| {
                v["type"] == "call.cancelled" || v["type"] == "call.missed"
            })
            .await;
        let id = c["callId"].as_str().unwrap().to_owned();
        assert_eq!(ids[id.as_str()], "B");
        let status = if c["type"] == "call.cancelled" {
            "CANCELLED"
        } else {
            "MISSED"
        };
        ended_as.insert(id, status);
    }
    // A second ending would have been sent by now; what arrived is in the sockets' buffers.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut double = 0;
    for ws in on_a.iter_mut().chain(callees_a.iter_mut()) {
        ws.wait = Duration::from_millis(2);
        for ty in ["call.missed", "call.cancelled", "call.ended"] {
            if ws.try_next_of(ty).await.is_some() {
                double += 1;
            }
        }
    }
    assert_eq!(double, 0, "terminal frames beyond the first");
    for (id, want) in &ids {
        let want = if *want == "B" { ended_as[id.as_str()] } else { *want };
        let row = a.state.store.get_call(id).await.unwrap().unwrap();
        assert_eq!(row.status.as_str(), want, "{row:?}");
        assert!(row.version <= 2, "one ending (plus at most one takeover): {row:?}");
    }
    let cancelled = ended_as.values().filter(|s| **s == "CANCELLED").count();
    println!(
        "soak: {} calls started in {started:?}; all ended {done:?} after kill -9 ({cancelled} of B's {} cancelled, the rest missed); 0 stuck, 0 double endings",
        ids.len(),
        ended_as.len()
    );
}
