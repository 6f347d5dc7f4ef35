//! `calls`: customers call their agents at a target rate; agents accept after a delay; calls are held and ended.
//!
//! Pair i is customer `cu-i` and agent `ag-i`. Timestamps cross between the
//! two tasks of a pair through atomics (nanoseconds since the run started),
//! so each latency is measured where the event lands: start → `call.incoming`
//! at the agent, accept → `call.accepted` at the customer, end → `call.ended`
//! at the agent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::connect_user_on;
use crate::auth::Minter;
use crate::cli::{CallsArgs, Common};
use crate::net::{Dialer, Ws};
use crate::progress;
use crate::report::{Report, Series};
use crate::stats::{Errors, Recorder};

/// Dispatcher tick: permits for this slice of a second are released at once.
pub const DISPATCH_TICK: Duration = Duration::from_millis(5);

struct Shared {
    start: Instant,
    start_ns: Vec<AtomicU64>,
    accept_ns: Vec<AtomicU64>,
    end_ns: Vec<AtomicU64>,
    incoming: Recorder,
    accepted: Recorder,
    ended: Recorder,
    errors: Errors,
    started: AtomicU64,
    completed: AtomicU64,
    permits: Semaphore,
    /// Cancelled when no more calls start.
    stop: CancellationToken,
    answer_delay: Duration,
    hold: Duration,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn since(&self, ns: &AtomicU64) -> Duration {
        Duration::from_nanos(self.now_ns().saturating_sub(ns.load(Ordering::Acquire)))
    }
}

pub async fn run(common: &Common, args: &CallsArgs) -> anyhow::Result<Report> {
    let dialer = Dialer::new(&common.url, common.sources())?;
    let minter = Minter::new(&common.secret, &common.audience);
    let n = args.pairs.max(1);
    let run = common.run_prefix();
    let start = Instant::now();
    let shared = Arc::new(Shared {
        start,
        start_ns: (0..n).map(|_| AtomicU64::new(0)).collect(),
        accept_ns: (0..n).map(|_| AtomicU64::new(0)).collect(),
        end_ns: (0..n).map(|_| AtomicU64::new(0)).collect(),
        incoming: Recorder::new(start),
        accepted: Recorder::new(start),
        ended: Recorder::new(start),
        errors: Errors::default(),
        started: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        permits: Semaphore::new(0),
        stop: CancellationToken::new(),
        answer_delay: Duration::from_millis(args.answer_delay_ms),
        hold: Duration::from_millis(args.hold_ms),
    });

    // Connect every agent, then every customer.
    let pb = progress::bar(2 * n as u64, common.quiet, "connecting");
    let mut agents = Vec::with_capacity(n);
    let mut customers = Vec::with_capacity(n);
    let tenant = |i: usize| format!("tenant-{}", i % args.tenants.max(1));
    // Pair i's agent is on node i; its customer on the next node (or the same with --same-node).
    let offset = usize::from(!args.same_node && dialer.nodes() > 1);
    for i in 0..n {
        agents.push(connect_user_on(&dialer, i, &minter, &tenant(i), &format!("{run}-ag-{i}"), true).await?);
        pb.inc(1);
    }
    for i in 0..n {
        customers.push(
            connect_user_on(
                &dialer,
                i + offset,
                &minter,
                &tenant(i),
                &format!("{run}-cu-{i}"),
                false,
            )
            .await?,
        );
        pb.inc(1);
    }
    pb.finish_and_clear();

    let mut tasks = Vec::with_capacity(2 * n);
    for (i, ws) in agents.into_iter().enumerate() {
        tasks.push(tokio::spawn(agent(i, ws, shared.clone())));
    }
    for (i, ws) in customers.into_iter().enumerate() {
        tasks.push(tokio::spawn(customer(i, format!("{run}-ag-{i}"), ws, shared.clone())));
    }

    // Dispatch start permits at the target rate.
    let expected = (args.rate * args.duration as f64).round() as u64;
    let pb = progress::bar(expected, common.quiet, "calling");
    let t0 = Instant::now();
    let mut tick = tokio::time::interval(DISPATCH_TICK);
    let mut released = 0u64;
    let mut starved = 0u64;
    while t0.elapsed() < Duration::from_secs(args.duration) {
        tick.tick().await;
        // Permits still untaken a tick later found no idle pair: count them, do not pile up.
        let leftover = shared.permits.available_permits();
        if leftover > 0
            && let Ok(p) = shared.permits.try_acquire_many(leftover as u32)
        {
            p.forget();
            starved += leftover as u64;
        }
        let due = (args.rate * t0.elapsed().as_secs_f64()).floor() as u64;
        if due > released {
            shared.permits.add_permits((due - released) as usize);
            released = due;
        }
        pb.set_position(shared.completed.load(Ordering::Relaxed));
    }
    let elapsed = t0.elapsed().as_secs_f64();
    shared.stop.cancel();
    shared.permits.close();
    let grace = shared.answer_delay + shared.hold + Duration::from_secs(10);
    for t in tasks {
        let _ = tokio::time::timeout(grace, t).await;
    }
    pb.finish_and_clear();

    let started = shared.started.load(Ordering::Relaxed);
    let mut report = Report::new(
        "calls",
        common.label.clone(),
        json!({"pairs": n, "rate": args.rate, "duration": args.duration, "answerDelayMs": args.answer_delay_ms,
               "holdMs": args.hold_ms, "tenants": args.tenants, "url": common.url,
               "sameNode": args.same_node}),
    );
    report.figure("calls_started", started);
    report.figure("calls_completed", shared.completed.load(Ordering::Relaxed));
    report.figure("target_rate", args.rate);
    report.figure("achieved_rate", (started as f64 / elapsed * 10.0).round() / 10.0);
    report.figure("starts_without_idle_pair", starved);
    report.latencies.push(Series::of("start→incoming", &shared.incoming));
    report.latencies.push(Series::of("accept→accepted", &shared.accepted));
    report.latencies.push(Series::of("end→ended", &shared.ended));
    report.errors = shared.errors.snapshot();
    Ok(report)
}

/// Presence frames are most of what a busy tenant's sockets receive; the
/// harness drops them before parsing so its own CPU does not skew latencies.
fn is_presence(text: &str) -> bool {
    text.starts_with(r#"{"type":"presence""#)
}

/// A received frame, as the call tasks see it.
enum Got {
    Frame(Value),
    /// Not for us (presence, pings, unparsable).
    Skip,
    Closed,
}

fn frame(m: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) -> Got {
    match m {
        Some(Ok(Message::Text(t))) if is_presence(&t) => Got::Skip,
        Some(Ok(Message::Text(t))) => serde_json::from_str(&t).map_or(Got::Skip, Got::Frame),
        Some(Ok(_)) => Got::Skip,
        _ => Got::Closed,
    }
}

async fn send(ws: &mut Ws, v: Value) -> bool {
    ws.send(Message::Text(v.to_string().into())).await.is_ok()
}

enum CustomerState {
    Idle,
    Starting,
    Ringing(String),
    Active(String, tokio::time::Instant),
    Ending,
}

async fn customer(i: usize, callee: String, mut ws: Ws, s: Arc<Shared>) {
    let mut state = CustomerState::Idle;
    loop {
        let hang_at = match &state {
            CustomerState::Active(_, at) => Some(*at),
            _ => None,
        };
        if matches!(state, CustomerState::Idle) && s.stop.is_cancelled() {
            break;
        }
        tokio::select! {
            permit = s.permits.acquire(), if matches!(state, CustomerState::Idle) => {
                let Ok(permit) = permit else { break };
                permit.forget();
                s.start_ns[i].store(s.now_ns(), Ordering::Release);
                state = CustomerState::Starting;
                if !send(&mut ws, json!({"type": "call.start", "calleeId": callee, "ref": "start"})).await {
                    s.errors.add("socket_closed");
                    return;
                }
            }
            _ = async { tokio::time::sleep_until(hang_at.unwrap_or_else(tokio::time::Instant::now)).await }, if hang_at.is_some() => {
                if let CustomerState::Active(id, _) = &state {
                    s.end_ns[i].store(s.now_ns(), Ordering::Release);
                    let msg = json!({"type": "call.end", "callId": id, "ref": "end"});
                    state = CustomerState::Ending;
                    if !send(&mut ws, msg).await {
                        s.errors.add("socket_closed");
                        return;
                    }
                }
            }
            m = ws.next() => {
                let v = match frame(m) {
                    Got::Frame(v) => v,
                    Got::Skip => continue,
                    Got::Closed => { s.errors.add("socket_closed"); return; }
                };
                match (v["type"].as_str().unwrap_or(""), &state) {
                    ("ack", CustomerState::Starting) => {
                        let status = v["call"]["status"].as_str().unwrap_or("");
                        if status == "RINGING" {
                            s.started.fetch_add(1, Ordering::Relaxed);
                            state = CustomerState::Ringing(v["call"]["id"].as_str().unwrap_or("").to_owned());
                        } else {
                            s.errors.add(&format!("start_{}", status.to_lowercase()));
                            state = CustomerState::Idle;
                        }
                    }
                    ("error", CustomerState::Starting) => {
                        s.errors.add(v["code"].as_str().unwrap_or("error"));
                        state = CustomerState::Idle;
                    }
                    ("call.accepted", CustomerState::Ringing(id)) if v["callId"] == id.as_str() => {
                        s.accepted.record(s.since(&s.accept_ns[i]));
                        state = CustomerState::Active(id.clone(), tokio::time::Instant::now() + s.hold);
                    }
                    ("call.missed" | "call.declined" | "call.cancelled", CustomerState::Ringing(_)) => {
                        s.errors.add(v["type"].as_str().unwrap_or(""));
                        state = CustomerState::Idle;
                    }
                    ("ack", CustomerState::Ending) => {
                        s.completed.fetch_add(1, Ordering::Relaxed);
                        state = CustomerState::Idle;
                    }
                    ("error", CustomerState::Ending) => {
                        s.errors.add(v["code"].as_str().unwrap_or("error"));
                        state = CustomerState::Idle;
                    }
                    ("error", _) => s.errors.add(v["code"].as_str().unwrap_or("error")),
                    _ => {}
                }
            }
        }
    }
    let _ = ws.close(None).await;
}

async fn agent(i: usize, mut ws: Ws, s: Arc<Shared>) {
    let mut pending: Option<(String, tokio::time::Instant)> = None;
    // Once the run stops, the agent stays long enough to answer and see its last call end.
    let mut quit_at: Option<tokio::time::Instant> = None;
    loop {
        let accept_at = pending.as_ref().map(|p| p.1);
        tokio::select! {
            _ = async { tokio::time::sleep_until(accept_at.unwrap_or_else(tokio::time::Instant::now)).await }, if accept_at.is_some() => {
                if let Some((id, _)) = pending.take() {
                    s.accept_ns[i].store(s.now_ns(), Ordering::Release);
                    if !send(&mut ws, json!({"type": "call.accept", "callId": id})).await {
                        s.errors.add("socket_closed");
                        return;
                    }
                }
            }
            _ = async { tokio::time::sleep_until(quit_at.unwrap_or_else(tokio::time::Instant::now)).await }, if quit_at.is_some() => break,
            _ = s.stop.cancelled(), if quit_at.is_none() => {
                quit_at = Some(tokio::time::Instant::now() + s.answer_delay + s.hold + Duration::from_secs(5));
            }
            m = ws.next() => {
                let v = match frame(m) {
                    Got::Frame(v) => v,
                    Got::Skip => continue,
                    Got::Closed => { s.errors.add("socket_closed"); return; }
                };
                match v["type"].as_str().unwrap_or("") {
                    "call.incoming" => {
                        s.incoming.record(s.since(&s.start_ns[i]));
                        let id = v["callId"].as_str().unwrap_or("").to_owned();
                        pending = Some((id, tokio::time::Instant::now() + s.answer_delay));
                    }
                    "call.ended" => s.ended.record(s.since(&s.end_ns[i])),
                    "error" => s.errors.add(v["code"].as_str().unwrap_or("error")),
                    _ => {}
                }
            }
        }
    }
    let _ = ws.close(None).await;
}
