//! Several nodes on one PostgreSQL schema and one Redis prefix: ringing, presence, node death, split brain, Redis faults.
//!
//! Nodes that must die for real (`kill -9`, `SIGSTOP`) are processes of the
//! binary; the rest are in-process servers. Redis faults use a Redis server
//! of the test's own, so no other test's nodes are disturbed.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster_support::*;
use crate::helpers::*;

fn quick(s: &mut switchboard::config::Settings) {
    s.ring_timeout = Duration::from_secs(30);
}

async fn ring(caller: &mut Ws, callee: &str) -> String {
    let ack = caller.request(json!({"type": "call.start", "calleeId": callee})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    ack["call"]["id"].as_str().unwrap().to_owned()
}

/// 1. The callee's devices on A and B both ring; accepting on B tells A's device and the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_node_ring_and_answer_elsewhere() {
    let (nodes, _) = in_process_nodes(2, &redis_url(), quick).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (cust, ag) = (customer("t1", "cust"), agent("t1", "agent"));
    let mut agent_on_a = a.connect(&ag).await;
    let mut agent_on_b = b.connect(&ag).await;
    let mut caller = a.connect(&cust).await;
    let t0 = Instant::now();
    let id = ring(&mut caller, "agent").await;
    let on_a = agent_on_a.next_of("call.incoming").await;
    let on_b = agent_on_b.next_of("call.incoming").await;
    let setup = t0.elapsed();
    assert_eq!(
        (on_a["callId"].as_str(), on_b["callId"].as_str()),
        (Some(&*id), Some(&*id))
    );
    let ack = agent_on_b.request(json!({"type": "call.accept", "callId": id})).await;
    assert_eq!(ack["call"]["status"], "ACTIVE", "{ack}");
    let elsewhere = agent_on_a.next_of("call.answered_elsewhere").await;
    assert_eq!(elsewhere["callId"], id.as_str());
    let accepted = caller.next_of("call.accepted").await;
    assert_eq!(accepted["callId"], id.as_str());
    // Hanging up on A ends it for the callee on B.
    let ack = caller.request(json!({"type": "call.end", "callId": id})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let ended = agent_on_b.next_of("call.ended").await;
    assert_eq!(ended["callId"], id.as_str());
    println!("cross-node ring: both devices rang {setup:?} after the start request");
}

/// 2. An agent on B is listed on A within 1 s, and gone within 1 s of a clean close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_cluster_wide() {
    let (nodes, _) = in_process_nodes(2, &redis_url(), quick).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (ag, viewer) = (agent("t1", "agent-b"), agent("t1", "viewer"));
    let addr_a = a.addr.to_string();
    let ws = b.connect(&ag).await;
    let listed_in = within(Duration::from_secs(1), "listed on A", || async {
        listed(a, &addr_a, &viewer).await.contains(&"agent-b".to_owned())
    })
    .await;
    // A socket watching on A sees the agent go offline.
    let mut watch = a.connect(&viewer).await;
    let t0 = Instant::now();
    ws.close().await;
    let off = watch
        .next_where("offline", |v| v["type"] == "presence" && v["status"] == "offline")
        .await;
    assert_eq!(off["supabaseUserId"], "agent-b");
    let offline_frame = t0.elapsed();
    let gone = within(Duration::from_secs(1), "unlisted on A", || async {
        !listed(a, &addr_a, &viewer).await.contains(&"agent-b".to_owned())
    })
    .await;
    println!("presence across nodes: listed in {listed_in:?}; offline frame {offline_frame:?}; unlisted {gone:?}");
}

/// 2b. The last socket anywhere: a phone on A closing keeps the call while a laptop on B holds on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_socket_anywhere_decides() {
    let (nodes, _) = in_process_nodes(2, &redis_url(), |s| {
        quick(s);
        s.reconnect_grace = Duration::from_secs(2);
    })
    .await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (cust, ag) = (customer("t1", "c"), agent("t1", "ag"));
    let mut caller = a.connect(&cust).await;
    let phone = a.connect(&ag).await;
    let mut laptop = b.connect(&ag).await;
    let id = ring(&mut caller, "ag").await;
    laptop.next_of("call.incoming").await;
    let ack = laptop.request(json!({"type": "call.accept", "callId": id})).await;
    assert_eq!(ack["call"]["status"], "ACTIVE");
    phone.close().await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (_, call) = a.get(&format!("/api/voip/calls/{id}"), Some(&a.token(&cust))).await;
    assert_eq!(call["status"], "ACTIVE", "the laptop on B still holds the call: {call}");
    assert!(call["endReason"].is_null(), "{call}");
}

/// 2c + 3. `kill -9` of B mid-ring: B's agent is unlisted within the
/// documented timeout, and B's ringing call (the caller also on A) ends
/// MISSED at its deadline, once, taken over by A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_death_mid_ring_ends_calls_missed_exactly_once() {
    let (nodes, prefix) = in_process_nodes(1, &redis_url(), quick).await;
    let a = &nodes[0];
    let schema = schema_of(a);
    let b = ProcNode::start(&schema, &redis_url(), &prefix, "node-b", &[("RING_TIMEOUT_SECS", "6")]).await;
    let (cust, ag, lonely, viewer) = (
        customer("t1", "cust"),
        agent("t1", "callee"),
        agent("t1", "agent-on-b"),
        agent("t1", "viewer"),
    );
    let addr_a = a.addr.to_string();
    let _lonely = b.connect(a, &lonely).await;
    within(Duration::from_secs(1), "B's agent listed on A", || async {
        listed(a, &addr_a, &viewer).await.contains(&"agent-on-b".to_owned())
    })
    .await;
    let mut caller_b = b.connect(a, &cust).await;
    let mut caller_a = a.connect(&cust).await;
    let mut callee = a.connect(&ag).await;
    let ack = caller_b
        .request(json!({"type": "call.start", "calleeId": "callee"}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let id = ack["call"]["id"].as_str().unwrap().to_owned();
    let deadline = ms_of(&ack["call"]["startedAt"]) + 6_000;
    callee.next_of("call.incoming").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = Instant::now();
    b.kill9().await;
    let unlisted = within(Duration::from_secs(6), "B's agent unlisted after kill -9", || async {
        !listed(a, &addr_a, &viewer).await.contains(&"agent-on-b".to_owned())
    })
    .await;
    let missed = callee.next_of("call.missed").await;
    assert_eq!(missed["callId"], id.as_str());
    caller_a.next_of("call.missed").await;
    let (_, call) = a.get(&format!("/api/voip/calls/{id}"), Some(&a.token(&cust))).await;
    assert_eq!(call["status"], "MISSED", "{call}");
    let ended = ms_of(&call["endedAt"]);
    assert!(
        (ended - deadline).abs() <= 1_000,
        "ended {} ms from its deadline",
        ended - deadline
    );
    // Exactly once: one missed frame per device, and the row's history is
    // created (0) → taken over (1) → missed (2).
    callee.expect_no("call.missed", Duration::from_millis(1_500)).await;
    let row = a.state.store.get_call(&id).await.unwrap().unwrap();
    assert_eq!(row.version, 2, "created, claimed, missed: {row:?}");
    assert!(row.node_id.starts_with("node-a."), "owned by A now: {}", row.node_id);
    println!(
        "node death mid-ring: agent unlisted {unlisted:?} after kill -9; call ended {} ms from its deadline",
        ended - deadline
    );
    let _ = killed;
}

/// 4. `kill -9` of B mid-call: the call ends `connection_lost` after the
/// grace, unless its participant on B comes back on A in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_death_mid_call_gives_the_grace() {
    let (nodes, prefix) = in_process_nodes(1, &redis_url(), |s| {
        quick(s);
        s.reconnect_grace = Duration::from_secs(3);
    })
    .await;
    let a = &nodes[0];
    let schema = schema_of(a);
    let b = ProcNode::start(
        &schema,
        &redis_url(),
        &prefix,
        "node-b",
        &[("RECONNECT_GRACE_SECS", "3")],
    )
    .await;
    // Two calls, each with its caller on B and its callee on A.
    let people = [
        (customer("t1", "c1"), agent("t1", "a1")),
        (customer("t1", "c2"), agent("t1", "a2")),
    ];
    let mut calls = Vec::new();
    let mut callees = Vec::new();
    for (c, ag) in &people {
        let mut cw = b.connect(a, c).await;
        let mut aw = a.connect(ag).await;
        let id = ring(&mut cw, &ag.id).await;
        aw.next_of("call.incoming").await;
        let ack = aw.request(json!({"type": "call.accept", "callId": id})).await;
        assert_eq!(ack["call"]["status"], "ACTIVE", "{ack}");
        cw.next_of("call.accepted").await;
        calls.push(id);
        callees.push(aw);
        std::mem::forget(cw); // dies with B
    }
    let t0 = Instant::now();
    b.kill9().await;
    // The first caller comes back, on A, inside the grace.
    let back = a.connect(&people[0].0).await;
    assert_eq!(
        back.welcome["activeCalls"][0]["id"],
        calls[0].as_str(),
        "{}",
        back.welcome
    );
    // Death seen within NODE_DEAD_AFTER (3 s), then the grace (3 s).
    callees[1].wait = Duration::from_secs(10);
    let ended = callees[1].next_of("call.ended").await;
    let took = t0.elapsed();
    assert_eq!(ended["callId"], calls[1].as_str());
    assert_eq!(ended["reason"], "connection_lost", "{ended}");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let (_, kept) = a
        .get(&format!("/api/voip/calls/{}", calls[0]), Some(&a.token(&people[0].1)))
        .await;
    assert_eq!(kept["status"], "ACTIVE", "the returning caller kept the call: {kept}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    println!("node death mid-call: the abandoned call ended {took:?} after kill -9 (grace 3 s)");
}

/// 5. SIGSTOP B for 10 s: A takes over; B's late writes are refused by the
/// fence; B rejoins under a new incarnation and closes its stale sockets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_brain_is_fenced() {
    let (nodes, prefix) = in_process_nodes(1, &redis_url(), quick).await;
    let a = &nodes[0];
    let schema = schema_of(a);
    let b = ProcNode::start(&schema, &redis_url(), &prefix, "node-b", &[("RING_TIMEOUT_SECS", "7")]).await;
    let (_, ready) = b.readyz().await;
    let first_member = ready["node"].as_str().unwrap().to_owned();
    let (cust, ag) = (customer("t1", "cust"), agent("t1", "callee"));
    let mut caller_b = b.connect(a, &cust).await;
    let _caller_a = a.connect(&cust).await;
    let mut callee = a.connect(&ag).await;
    let ack = caller_b
        .request(json!({"type": "call.start", "calleeId": "callee"}))
        .await;
    let id = ack["call"]["id"].as_str().unwrap().to_owned();
    callee.next_of("call.incoming").await;
    b.signal("-STOP");
    let paused = Instant::now();
    // A sees B dead and takes its call; the ring deadline passes while B sleeps.
    callee.wait = Duration::from_secs(10);
    let missed = callee.next_of("call.missed").await;
    assert_eq!(missed["callId"], id.as_str());
    let row = a.state.store.get_call(&id).await.unwrap().unwrap();
    assert!(row.node_id.starts_with("node-a."), "{row:?}");
    while paused.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.signal("-CONT");
    let resumed = Instant::now();
    // B learns it was reaped: its old sockets close with 1012, and it beats under a new id.
    assert_eq!(caller_b.closed().await, Some(1012));
    let rejoined = within(Duration::from_secs(5), "B rejoined", || async {
        let (code, r) = b.readyz().await;
        code == 200
            && r["node"]
                .as_str()
                .is_some_and(|n| n != first_member && n.starts_with("node-b."))
    })
    .await;
    // Whatever B wrote when it woke (its ring timer, due while it slept, fires
    // at once unless the takeover reached it first) was refused: the row is
    // still A's ending, at the version A wrote. (`a_takeover_fences_the_old_owners_copy`
    // shows the refusal itself, deterministically.)
    let row = a.state.store.get_call(&id).await.unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.version), ("MISSED", 2), "{row:?}");
    callee.expect_no("call.missed", Duration::from_millis(500)).await;
    let fenced = b.metric("switchboard_stale_writes_total").await;
    // B serves again: a user on B reaches one on A.
    let mut again = b.connect(a, &cust).await;
    let id2 = ring(&mut again, "callee").await;
    assert_eq!(callee.next_of("call.incoming").await["callId"], id2.as_str());
    println!(
        "split brain: rejoined {rejoined:?} after its old sockets closed, {:?} after SIGCONT; B's writes refused by the fence: {fenced}",
        resumed.elapsed()
    );
    b.kill9().await;
}

/// 5b. The fence itself: a node holding a copy of a call another node took
/// over writes at the old version; the store refuses it, the node re-reads
/// and its command applies to the new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_fences_the_old_owners_copy() {
    let (nodes, _) = in_process_nodes(2, &redis_url(), quick).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (cust, ag) = (customer("t1", "cust"), agent("t1", "callee"));
    let mut caller_b = b.connect(&cust).await;
    let mut callee = b.connect(&ag).await;
    let id = ring(&mut caller_b, "callee").await;
    callee.next_of("call.incoming").await;
    // A takes the call over as it would from a dead B (B is not told: as if paused).
    // The claim names A's live member id: a made-up owner would not beat, and
    // the orphan scan (every 2 s, on both nodes) would take the call again
    // in the middle of the test.
    let a_member = a.state.cluster.as_ref().expect("cluster mode").member().to_string();
    let row = a.state.store.get_call(&id).await.unwrap().unwrap();
    let claimed = a
        .state
        .store
        .claim_call(&row, &a_member)
        .await
        .unwrap()
        .expect("claimed");
    assert_eq!(claimed.version, row.version + 1);
    assert!(
        a.state.store.claim_call(&row, "node-c.late").await.unwrap().is_none(),
        "a second claim at the old version is refused"
    );
    let before = b.state.metrics.stale_writes.get();
    let ack = caller_b.request(json!({"type": "call.cancel", "callId": id})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(
        b.state.metrics.stale_writes.get(),
        before + 1,
        "B's write from its old copy was refused once"
    );
    let row = a.state.store.get_call(&id).await.unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.version),
        ("CANCELLED", claimed.version + 1),
        "{row:?}"
    );
    assert_eq!(row.node_id, a_member, "the owner stays the one that claimed it");
}

/// 6. `CLIENT KILL TYPE pubsub`: each node notices, reconnects and resubscribes within 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_subscriber_is_replaced() {
    let redis = PrivateRedis::start();
    let (nodes, _) = in_process_nodes(2, &redis.url(), quick).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (cust, ag) = (customer("t1", "c"), agent("t1", "ag"));
    let mut callee = b.connect(&ag).await;
    let mut caller = a.connect(&cust).await;
    let before = a.state.cluster.as_ref().unwrap().connects();
    let killed = redis.kill_subscribers().await;
    assert!(killed >= 2, "one subscriber per node: {killed}");
    let back = within(Duration::from_secs(5), "resubscribed", || async {
        nodes.iter().all(|n| {
            let c = n.state.cluster.as_ref().unwrap();
            c.connects() > before && c.available()
        })
    })
    .await;
    // Cross-node ringing works again.
    let id = ring(&mut caller, "ag").await;
    assert_eq!(callee.next_of("call.incoming").await["callId"], id.as_str());
    println!("killed pub/sub connection: both nodes resubscribed within {back:?}");
}

/// 7. Redis restarts: calls between users of one node go on meanwhile, cross-node work
/// fails fast with `cluster_unavailable`, and cross-node ringing is back within 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_is_survived() {
    let mut redis = PrivateRedis::start();
    let (nodes, _) = in_process_nodes(2, &redis.url(), quick).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (c1, a1, far) = (customer("t1", "c1"), agent("t1", "a1"), agent("t1", "far"));
    let mut caller = a.connect(&c1).await;
    let mut local = a.connect(&a1).await;
    let mut remote = b.connect(&far).await;
    redis.down();
    within(Duration::from_secs(5), "A sees Redis gone", || async {
        !a.state.cluster.as_ref().unwrap().available()
    })
    .await;
    let (code, body) = a.get("/readyz", None).await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (503, Some("cluster_unavailable")),
        "{body}"
    );
    // A local call works.
    let id = ring(&mut caller, "a1").await;
    local.next_of("call.incoming").await;
    let ack = local.request(json!({"type": "call.accept", "callId": id})).await;
    assert_eq!(ack["call"]["status"], "ACTIVE", "{ack}");
    let ack = caller.request(json!({"type": "call.end", "callId": id})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    // A call to a user on B fails fast.
    let t0 = Instant::now();
    let refused = caller.request(json!({"type": "call.start", "calleeId": "far"})).await;
    assert_eq!(refused["code"], "cluster_unavailable", "{refused}");
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    redis.up();
    let t0 = Instant::now();
    let back = within(Duration::from_secs(5), "cross-node ringing back", || async {
        nodes.iter().all(|n| n.state.cluster.as_ref().unwrap().available())
    })
    .await;
    // Presence was written back: A lists B's agent again.
    let addr_a = a.addr.to_string();
    within(Duration::from_secs(2), "B's agent listed again", || async {
        listed(a, &addr_a, &a1).await.contains(&"far".to_owned())
    })
    .await;
    let id = ring(&mut caller, "far").await;
    assert_eq!(remote.next_of("call.incoming").await["callId"], id.as_str());
    let ringing_again = t0.elapsed();
    assert!(ringing_again < Duration::from_secs(5), "{ringing_again:?}");
    println!(
        "Redis restart: nodes resubscribed in {back:?}; cross-node ringing back {ringing_again:?} after Redis returned"
    );
}

/// Cluster mode refuses SQLite, saying why.
#[tokio::test]
async fn cluster_mode_needs_postgres() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SWITCHBOARD_REDIS_URL", redis_url())
        .env("DATABASE_URL", "sqlite://never-created.db")
        .args(["--dev", "--addr", "127.0.0.1:0"])
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs PostgreSQL"), "{err}");
}
