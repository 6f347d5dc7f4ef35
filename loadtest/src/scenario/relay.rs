//! `relay`: pairs exchange relayed messages through the server; each is echoed back for a round trip.
//!
//! Peer A of each pair sends `{"s": seq, "t": ns, "p": pad}`; peer B echoes
//! the same data back. Against switchboard the pair is an ACTIVE call and the
//! frames are `rtc.signal`; against PeerJS they are OFFER (A→B) and ANSWER
//! (B→A). Every frame a peer receives inside the measurement window counts as
//! one relayed message.
//!
//! Closed loop (`--window`), `t` is when the message was sent. Open loop
//! (`--rate-per-pair`), `t` is when it was due: each pair sends on its own
//! schedule (a random phase, then one message per period), so a send held up
//! by a busy server or client counts in the round trip instead of vanishing
//! (no coordinated omission).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::{connect_user_on, establish_call, wait_for_type};
use crate::auth::Minter;
use crate::cli::{Common, RelayArgs, Target};
use crate::net::{Dialer, Ws};
use crate::procinfo;
use crate::progress;
use crate::report::{Report, Series, mib};
use crate::stats::{Errors, Recorder};

/// PeerJS drops clients that send no HEARTBEAT; its own client sends one every 5 s.
pub const PEERJS_HEARTBEAT: Duration = Duration::from_secs(5);
/// Pause between the last pair connecting and the memory reading.
pub const SETTLE: Duration = Duration::from_millis(500);

struct Shared {
    start: Instant,
    rtt: Recorder,
    relayed: AtomicU64,
    measuring: AtomicBool,
    stop: CancellationToken,
    errors: Errors,
    pad: String,
}

/// How one side addresses the other.
#[derive(Clone)]
enum Route {
    /// switchboard: the call both are in.
    Call(String),
    /// PeerJS: the other peer's id.
    Peer(String),
}

impl Route {
    fn frame(&self, first: bool, data: &str) -> String {
        match self {
            Route::Call(id) => format!(r#"{{"type":"rtc.signal","callId":"{id}","data":{data}}}"#),
            Route::Peer(dst) => {
                let ty = if first { "OFFER" } else { "ANSWER" };
                format!(r#"{{"type":"{ty}","dst":"{dst}","payload":{data}}}"#)
            }
        }
    }
}

#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
    #[serde(default)]
    code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Stamp {
    t: u64,
}

pub async fn run(common: &Common, args: &RelayArgs) -> anyhow::Result<Report> {
    let dialer = Dialer::new(&common.url, common.sources())?;
    let minter = Minter::new(&common.secret, &common.audience);
    let rss_before = common.server_pid.and_then(procinfo::rss_bytes);
    let n = args.pairs.max(1);
    let run = common.run_prefix();
    let pb = progress::bar(n as u64, common.quiet, "pairing");
    let mut pairs = Vec::with_capacity(n);
    for i in 0..n {
        let pair = match args.target {
            Target::Switchboard => switchboard_pair(&dialer, &minter, args, &run, i).await?,
            Target::Peerjs => peerjs_pair(&dialer, args, &run, i).await?,
        };
        pairs.push(pair);
        pb.inc(1);
    }
    pb.finish_and_clear();
    // Memory per peer: every pair connected (and in its call), no traffic yet.
    tokio::time::sleep(SETTLE).await;
    let rss_connected = common.server_pid.and_then(procinfo::rss_bytes);

    let start = Instant::now();
    let shared = Arc::new(Shared {
        start,
        rtt: Recorder::new(start),
        relayed: AtomicU64::new(0),
        measuring: AtomicBool::new(false),
        stop: CancellationToken::new(),
        errors: Errors::default(),
        pad: "x".repeat(args.payload),
    });
    let mut tasks = Vec::with_capacity(2 * n);
    for (a, b, to_b, to_a) in pairs {
        tasks.push(tokio::spawn(sender(
            a,
            to_b,
            shared.clone(),
            args.rate_per_pair,
            args.window.max(1),
        )));
        tasks.push(tokio::spawn(echoer(b, to_a, shared.clone())));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let cpu0 = common.server_pid.and_then(procinfo::cpu_seconds);
    // Nothing counts before this: `relayed` starts at 0.
    shared.measuring.store(true, Ordering::Release);
    let t0 = Instant::now();
    let pb = progress::bar(args.duration, common.quiet, "relaying");
    for _ in 0..args.duration {
        tokio::time::sleep(Duration::from_secs(1)).await;
        pb.inc(1);
        pb.set_message(format!(
            "{:.0} msg/s",
            shared.relayed.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64()
        ));
    }
    shared.measuring.store(false, Ordering::Release);
    let secs = t0.elapsed().as_secs_f64();
    let relayed = shared.relayed.load(Ordering::Relaxed);
    let cpu1 = common.server_pid.and_then(procinfo::cpu_seconds);
    let rss = common.server_pid.and_then(procinfo::rss_bytes);
    shared.stop.cancel();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    pb.finish_and_clear();

    let mut report = Report::new(
        "relay",
        common.label.clone(),
        json!({"target": format!("{:?}", args.target).to_lowercase(), "pairs": n, "ratePerPair": args.rate_per_pair,
               "window": args.window, "payload": args.payload, "duration": args.duration, "url": common.url}),
    );
    report.figure("connected_peers", 2 * n as u64);
    report.figure("messages_relayed", relayed);
    report.figure("messages_per_sec", (relayed as f64 / secs).round());
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        report.figure("server_cpu_seconds", ((b - a) * 100.0).round() / 100.0);
        if relayed > 0 {
            report.figure(
                "server_cpu_us_per_message",
                ((b - a) * 1e6 / relayed as f64 * 100.0).round() / 100.0,
            );
        }
    }
    if let Some(before) = rss_before {
        report.figure("server_rss_before_mib", mib(before));
    }
    if let Some(connected) = rss_connected {
        report.figure("server_rss_connected_mib", mib(connected));
    }
    // A shrinking process (the allocator returned memory) gives no per-peer figure.
    if let (Some(before), Some(connected)) = (rss_before, rss_connected)
        && connected >= before
    {
        let per_peer = (connected - before) as f64 / (2 * n) as f64 / 1024.0;
        report.figure("server_rss_per_peer_kib", (per_peer * 10.0).round() / 10.0);
    }
    if let Some(rss) = rss {
        report.figure("server_rss_mib", mib(rss));
    }
    report.latencies.push(Series::of("round trip", &shared.rtt));
    report.errors = shared.errors.snapshot();
    Ok(report)
}

type Pair = (Ws, Ws, Route, Route);

async fn switchboard_pair(
    dialer: &Dialer,
    minter: &Minter,
    args: &RelayArgs,
    run: &str,
    i: usize,
) -> anyhow::Result<Pair> {
    let tenant = format!("relay-{}", i % args.tenants.max(1));
    let (ca, ag) = (format!("{run}-rc-{i}"), format!("{run}-ra-{i}"));
    // With several nodes, each pair's two peers are on different nodes.
    let mut agent = connect_user_on(dialer, i, minter, &tenant, &ag, true).await?;
    let mut cust = connect_user_on(dialer, i + 1, minter, &tenant, &ca, false).await?;
    let id = establish_call(&mut cust, &mut agent, &ag).await?;
    wait_for_type(&mut cust, "call.accepted").await?;
    Ok((cust, agent, Route::Call(id.clone()), Route::Call(id)))
}

async fn peerjs_pair(dialer: &Dialer, args: &RelayArgs, run: &str, i: usize) -> anyhow::Result<Pair> {
    let base = if args.peerjs_path.ends_with('/') {
        args.peerjs_path.clone()
    } else {
        format!("{}/", args.peerjs_path)
    };
    let (a, b) = (format!("{run}a{i}"), format!("{run}b{i}"));
    let mut wa = dialer
        .websocket(&format!("{base}peerjs?key=peerjs&id={a}&token=t{i}"))
        .await?;
    wait_for_type(&mut wa, "OPEN").await?;
    let mut wb = dialer
        .websocket(&format!("{base}peerjs?key=peerjs&id={b}&token=t{i}"))
        .await?;
    wait_for_type(&mut wb, "OPEN").await?;
    Ok((wa, wb, Route::Peer(b), Route::Peer(a)))
}

fn body<'a>(m: &Incoming<'a>) -> Option<&'a RawValue> {
    m.data.or(m.payload)
}

/// What one received frame asks of the peer.
enum Got {
    /// A relayed message (its raw body).
    Message(String),
    /// Nothing to do.
    Skip,
    /// The socket is gone.
    Closed,
}

fn classify(m: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>, s: &Shared) -> Got {
    match m {
        Some(Ok(Message::Text(text))) => {
            let Ok(msg) = serde_json::from_str::<Incoming<'_>>(&text) else {
                return Got::Skip;
            };
            if msg.kind == "error" {
                s.errors.add(msg.code.unwrap_or("error"));
                return Got::Skip;
            }
            match body(&msg) {
                Some(b) => Got::Message(b.get().to_owned()),
                None => Got::Skip,
            }
        }
        Some(Ok(_)) => Got::Skip,
        _ => Got::Closed,
    }
}

/// Handles `first` and every frame already readable, feeding replies; the caller flushes once.
async fn drain<F: FnMut(&str) -> Option<String>>(
    ws: &mut Ws,
    first: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    s: &Shared,
    mut on_message: F,
) -> bool {
    let mut next = Some(first);
    while let Some(m) = next.take() {
        match classify(m, s) {
            Got::Closed => {
                if !s.stop.is_cancelled() {
                    s.errors.add("socket_closed");
                }
                return false;
            }
            Got::Skip => {}
            Got::Message(body) => {
                if let Some(reply) = on_message(&body)
                    && ws.feed(Message::Text(reply.into())).await.is_err()
                {
                    s.errors.add("socket_closed");
                    return false;
                }
            }
        }
        next = ws.next().now_or_never();
    }
    true
}

async fn sender(mut ws: Ws, to: Route, s: Arc<Shared>, rate: f64, window: usize) {
    let heartbeat = matches!(to, Route::Peer(_));
    let mut hb = tokio::time::interval(PEERJS_HEARTBEAT);
    let mut seq = 0u64;
    let frame = |seq: u64, t_ns: u64| {
        let data = format!(r#"{{"s":{seq},"t":{t_ns},"p":"{}"}}"#, s.pad);
        to.frame(true, &data)
    };
    let now_ns = || s.start.elapsed().as_nanos() as u64;
    // Open loop: message k (from 0) is due at `phase + k * period` after the start.
    let open_loop = rate > 0.0;
    let period_ns = if open_loop { (1e9 / rate) as u64 } else { 0 };
    let phase_ns = (period_ns as f64 * fastrand::f64()) as u64;
    let due_ns = |seq: u64| phase_ns + seq * period_ns;
    let at = |ns: u64| tokio::time::Instant::from_std(s.start) + Duration::from_nanos(ns);
    let next_send = tokio::time::sleep_until(at(due_ns(0)));
    tokio::pin!(next_send);
    if !open_loop {
        for _ in 0..window {
            seq += 1;
            if ws.feed(Message::Text(frame(seq, now_ns()).into())).await.is_err() {
                s.errors.add("socket_closed");
                return;
            }
        }
        let _ = ws.flush().await;
    }
    loop {
        tokio::select! {
            _ = s.stop.cancelled() => break,
            _ = &mut next_send, if open_loop => {
                // Stamped with when it was due, not when it went out.
                let stamp = due_ns(seq);
                seq += 1;
                if ws.send(Message::Text(frame(seq, stamp).into())).await.is_err() {
                    s.errors.add("socket_closed");
                    return;
                }
                next_send.as_mut().reset(at(due_ns(seq)));
            }
            _ = hb.tick(), if heartbeat => {
                let _ = ws.send(Message::Text(r#"{"type":"HEARTBEAT"}"#.into())).await;
            }
            m = ws.next() => {
                let measuring = s.measuring.load(Ordering::Relaxed);
                let alive = drain(&mut ws, m, &s, |body| {
                    let stamp: Stamp = serde_json::from_str(body).ok()?;
                    if measuring {
                        s.relayed.fetch_add(1, Ordering::Relaxed);
                        s.rtt.record(Duration::from_nanos(now_ns().saturating_sub(stamp.t)));
                    }
                    (!open_loop).then(|| {
                        seq += 1;
                        frame(seq, now_ns())
                    })
                })
                .await;
                if !alive || ws.flush().await.is_err() {
                    return;
                }
            }
        }
    }
    // Leave nothing open on the server: the call ends with the run.
    if let Route::Call(id) = &to {
        let end = format!(r#"{{"type":"call.end","callId":"{id}"}}"#);
        let _ = ws.send(Message::Text(end.into())).await;
    }
    let _ = ws.close(None).await;
}

async fn echoer(mut ws: Ws, to: Route, s: Arc<Shared>) {
    let heartbeat = matches!(to, Route::Peer(_));
    let mut hb = tokio::time::interval(PEERJS_HEARTBEAT);
    loop {
        tokio::select! {
            _ = s.stop.cancelled() => break,
            _ = hb.tick(), if heartbeat => {
                let _ = ws.send(Message::Text(r#"{"type":"HEARTBEAT"}"#.into())).await;
            }
            m = ws.next() => {
                let measuring = s.measuring.load(Ordering::Relaxed);
                let alive = drain(&mut ws, m, &s, |body| {
                    if measuring {
                        s.relayed.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(to.frame(false, body))
                })
                .await;
                if !alive || ws.flush().await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = ws.close(None).await;
}
