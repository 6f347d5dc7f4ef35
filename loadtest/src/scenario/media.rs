//! `media`: whole calls with Opus through the embedded SFU, set up and torn down, to measure capacity and leaks.
//!
//! Each worker owns one customer/agent pair and runs calls back to back: ring,
//! accept, both participants join the SFU (a webrtc-crate client each, on its
//! own socket), talk, check delivery, hang up, close. The server's resident
//! memory is read after the first `--sample-after` calls and again at the
//! end, once the SFU reports nothing open.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::json;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

use super::{metric, wait_for_type};
use crate::auth::Minter;
use crate::cli::{Common, MediaArgs};
use crate::net::{Dialer, Ws};
use crate::procinfo;
use crate::progress;
use crate::report::{Report, Series};
use crate::rtc_client::RtcClient;
use crate::stats::{Errors, Recorder};

/// How long both participants may take to connect their media.
pub const MEDIA_SETUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the end of the run waits for the SFU to report nothing open.
pub const TEARDOWN_WAIT: Duration = Duration::from_secs(20);
/// A call counts as carried when at least this share of packets arrived both ways.
pub const CARRIED_RATIO: f64 = 0.95;

struct Shared {
    next: AtomicUsize,
    done: AtomicUsize,
    carried: AtomicUsize,
    sent: AtomicU64,
    received: AtomicU64,
    setup: Recorder,
    errors: Errors,
    rss_sample: Mutex<Option<u64>>,
    ws_base: String,
}

pub async fn run(common: &Common, args: &MediaArgs) -> anyhow::Result<Report> {
    let dialer = Arc::new(Dialer::new(&common.url, common.sources())?);
    let minter = Arc::new(Minter::new(&common.secret, &common.audience));
    let run = common.run_prefix();
    let server = dialer.server();
    let start = Instant::now();
    let shared = Arc::new(Shared {
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        carried: AtomicUsize::new(0),
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        setup: Recorder::new(start),
        errors: Errors::default(),
        rss_sample: Mutex::new(None),
        ws_base: format!("ws://{}/api/voip/ws?access_token=", server),
    });
    let rss_start = common.server_pid.and_then(procinfo::rss_bytes);
    let cpu_start = common.server_pid.and_then(procinfo::cpu_seconds);
    let pb = progress::bar(args.calls as u64, common.quiet, "calls");
    let workers = args.concurrency.clamp(1, args.calls.max(1));
    let mut tasks = Vec::with_capacity(workers);
    for w in 0..workers {
        let tenant = format!("media-{}", w % args.tenants.max(1));
        let (cust, agent) = (format!("{run}-mc{w}"), format!("{run}-ma{w}"));
        let (ct, at) = (
            minter.token(&tenant, &cust, false)?,
            minter.token(&tenant, &agent, true)?,
        );
        let (dialer, shared, args, pb, pid) = (
            dialer.clone(),
            shared.clone(),
            args.clone(),
            pb.clone(),
            common.server_pid,
        );
        tasks.push(tokio::spawn(async move {
            if let Err(e) = worker(w, &dialer, &shared, &args, &ct, &at, &agent, &pb, pid).await {
                shared.errors.add(&format!("worker: {e}"));
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    pb.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_end = common.server_pid.and_then(procinfo::cpu_seconds);

    // Everything of the calls must be gone before the final reading.
    let deadline = Instant::now() + TEARDOWN_WAIT;
    let (mut rooms, mut conns) = (None, None);
    while Instant::now() < deadline {
        rooms = metric(server, "switchboard_media_rooms").await;
        conns = metric(server, "switchboard_media_connections").await;
        if rooms == Some(0.0) && conns == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_end = common.server_pid.and_then(procinfo::rss_bytes);

    let mut report = Report::new(
        "media",
        common.label.clone(),
        json!({"calls": args.calls, "concurrency": workers, "talkMs": args.talk_ms, "sampleAfter": args.sample_after,
               "url": common.url}),
    );
    let done = shared.done.load(Ordering::Relaxed);
    let (sent, received) = (
        shared.sent.load(Ordering::Relaxed),
        shared.received.load(Ordering::Relaxed),
    );
    report.figure("calls_completed", done as u64);
    report.figure("calls_carried", shared.carried.load(Ordering::Relaxed) as u64);
    report.figure("concurrent_calls", workers as u64);
    report.figure("packets_sent", sent);
    report.figure("packets_received", received);
    if sent > 0 {
        report.figure(
            "delivery_ratio",
            (received as f64 / sent as f64 * 10_000.0).round() / 10_000.0,
        );
    }
    report.figure("seconds", (elapsed * 10.0).round() / 10.0);
    if let Some(r) = rooms {
        report.figure("sfu_rooms_left", r);
    }
    if let Some(c) = conns {
        report.figure("sfu_connections_left", c);
    }
    let mib = |b: u64| (b as f64 / 1_048_576.0 * 10.0).round() / 10.0;
    if let Some(r) = rss_start {
        report.figure("server_rss_start_mib", mib(r));
    }
    if let Some(r) = *shared.rss_sample.lock().await {
        report.figure(&format!("server_rss_after_{}_calls_mib", args.sample_after), mib(r));
        if let Some(end) = rss_end {
            report.figure("server_rss_end_mib", mib(end));
            report.figure(
                "server_rss_growth_pct",
                ((end as f64 / r as f64 - 1.0) * 1000.0).round() / 10.0,
            );
        }
    }
    if let (Some(a), Some(b)) = (cpu_start, cpu_end) {
        report.figure("server_cpu_seconds", ((b - a) * 100.0).round() / 100.0);
    }
    report.latencies.push(Series::of("call start→media up", &shared.setup));
    report.errors = shared.errors.snapshot();
    Ok(report)
}

async fn send(ws: &mut Ws, v: serde_json::Value) -> anyhow::Result<()> {
    ws.send(Message::Text(v.to_string().into())).await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn worker(
    w: usize,
    dialer: &Dialer,
    s: &Shared,
    args: &MediaArgs,
    customer_token: &str,
    agent_token: &str,
    agent_id: &str,
    pb: &indicatif::ProgressBar,
    pid: Option<u32>,
) -> anyhow::Result<()> {
    let mut cust = dialer
        .websocket(&format!("/api/voip/ws?access_token={customer_token}"))
        .await?;
    wait_for_type(&mut cust, "welcome").await?;
    let mut agent = dialer
        .websocket(&format!("/api/voip/ws?access_token={agent_token}"))
        .await?;
    wait_for_type(&mut agent, "welcome").await?;
    let packets = (args.talk_ms / 20).max(1) as u32;
    let mut n_call = 0u32;
    while s.next.fetch_add(1, Ordering::Relaxed) < args.calls {
        n_call += 1;
        let t0 = Instant::now();
        send(
            &mut cust,
            json!({"type": "call.start", "calleeId": agent_id, "ref": "start"}),
        )
        .await?;
        let ack = wait_for_type(&mut cust, "ack").await?;
        let Some(call_id) = ack["call"]["id"].as_str().map(str::to_owned) else {
            s.errors.add("start_failed");
            continue;
        };
        wait_for_type(&mut agent, "call.incoming").await?;
        send(
            &mut agent,
            json!({"type": "call.accept", "callId": call_id, "ref": "accept"}),
        )
        .await?;
        wait_for_type(&mut agent, "ack").await?;

        let ssrc = |side: u32| (w as u32) << 20 | n_call << 1 | side;
        let caller = RtcClient::join(&format!("{}{customer_token}", s.ws_base), &call_id, ssrc(0), 0xA2).await?;
        let callee = RtcClient::join(&format!("{}{agent_token}", s.ws_base), &call_id, ssrc(1), 0xA1).await?;
        let up = tokio::time::timeout(MEDIA_SETUP_TIMEOUT, async {
            while !(caller.connected() && callee.connected()) {
                if caller.failed() || callee.failed() {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            true
        })
        .await
        .unwrap_or(false);
        if up {
            s.setup.record(t0.elapsed());
            tokio::join!(caller.send_audio(packets, 0xA1), callee.send_audio(packets, 0xA2));
            tokio::time::sleep(Duration::from_millis(200)).await;
            let got_callee = callee.inbound.tagged.load(Ordering::Relaxed);
            let got_caller = caller.inbound.tagged.load(Ordering::Relaxed);
            s.sent.fetch_add(2 * u64::from(packets), Ordering::Relaxed);
            s.received.fetch_add(got_callee + got_caller, Ordering::Relaxed);
            let need = (f64::from(packets) * CARRIED_RATIO) as u64;
            if got_callee >= need && got_caller >= need {
                s.carried.fetch_add(1, Ordering::Relaxed);
            } else {
                s.errors.add("audio_lost");
            }
        } else {
            s.errors.add("media_not_connected");
        }
        send(&mut cust, json!({"type": "call.end", "callId": call_id, "ref": "end"})).await?;
        wait_for_type(&mut cust, "ack").await?;
        caller.close().await;
        callee.close().await;
        let done = s.done.fetch_add(1, Ordering::Relaxed) + 1;
        pb.inc(1);
        if done == args.sample_after {
            // The baseline: the first calls have warmed every cache and pool.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let mut sample = s.rss_sample.lock().await;
            if sample.is_none() {
                *sample = pid.and_then(procinfo::rss_bytes);
            }
        }
    }
    Ok(())
}
