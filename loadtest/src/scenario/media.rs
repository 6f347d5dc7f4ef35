//! `media`: whole calls with Opus through the embedded SFU, set up and torn down, to measure capacity and leaks.
//!
//! Each worker owns one customer/agent pair and runs calls back to back: ring,
//! accept, both participants join the SFU (a webrtc-crate client each, on its
//! own socket), talk, check delivery, hang up, close. The run has two phases:
//! the first `--sample-after` calls warm every cache and pool; once all of
//! them have ended and the SFU reports nothing open, the server's resident
//! memory is read as the baseline. Then the remaining calls run, and memory is
//! read again the same way at the end, so neither reading holds live media.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{connect_user, establish_call, metric, send_json, wait_for_type};
use crate::auth::Minter;
use crate::cli::{Common, MediaArgs};
use crate::net::{Dialer, Ws};
use crate::procinfo;
use crate::progress;
use crate::report::{Report, Series, mib};
use crate::rtc_client::RtcClient;
use crate::stats::{Errors, Recorder};

/// How long both participants may take to connect their media.
pub const MEDIA_SETUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the SFU may take to report nothing open once every call ended.
pub const TEARDOWN_WAIT: Duration = Duration::from_secs(20);
/// Pause between the SFU reporting nothing open and the memory reading.
pub const SETTLE: Duration = Duration::from_secs(1);
/// A call counts as carried when at least this share of packets arrived both ways.
pub const CARRIED_RATIO: f64 = 0.95;
/// First payload byte of the caller's packets (the callee expects it), and of the callee's.
const CALLER_TAG: u8 = 0xA1;
const CALLEE_TAG: u8 = 0xA2;

/// What every worker shares: where to connect, what to run, and the tallies.
struct Ctx {
    dialer: Dialer,
    minter: Minter,
    args: MediaArgs,
    pb: indicatif::ProgressBar,
    /// Calls claimed so far (a worker claims one before starting it).
    claimed: AtomicUsize,
    done: AtomicUsize,
    carried: AtomicUsize,
    sent: AtomicU64,
    received: AtomicU64,
    setup: Recorder,
    errors: Errors,
}

impl Ctx {
    /// Claims the next call if fewer than `until` have been claimed.
    fn claim(&self, until: usize) -> bool {
        self.claimed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < until).then_some(n + 1))
            .is_ok()
    }
}

/// One worker's customer/agent pair and their signaling sockets.
struct Pair {
    index: usize,
    tenant: String,
    customer: String,
    agent: String,
    customer_ws: Ws,
    agent_ws: Ws,
    /// Calls this pair has made (keeps SSRCs unique).
    calls: u32,
}

/// SFU rooms and connections the server reports (the last reading), once both are 0 or after `wait`.
pub async fn wait_media_released(server: SocketAddr, wait: Duration) -> (Option<f64>, Option<f64>) {
    let deadline = Instant::now() + wait;
    loop {
        let rooms = metric(server, "switchboard_media_rooms").await;
        let conns = metric(server, "switchboard_media_connections").await;
        if (rooms == Some(0.0) && conns == Some(0.0)) || Instant::now() >= deadline {
            return (rooms, conns);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The server's resident memory once its media is released (None without --server-pid).
async fn released_rss(ctx: &Ctx, pid: Option<u32>, phase: &str) -> (Option<f64>, Option<f64>, Option<u64>) {
    let (rooms, conns) = wait_media_released(ctx.dialer.server(), TEARDOWN_WAIT).await;
    if rooms != Some(0.0) || conns != Some(0.0) {
        ctx.errors.add(&format!("media_open_after_{phase}"));
    }
    tokio::time::sleep(SETTLE).await;
    (rooms, conns, pid.and_then(procinfo::rss_bytes))
}

pub async fn run(common: &Common, args: &MediaArgs) -> anyhow::Result<Report> {
    let start = Instant::now();
    let workers = args.concurrency.clamp(1, args.calls.max(1));
    let warmup = args.sample_after.min(args.calls);
    let ctx = Arc::new(Ctx {
        dialer: Dialer::new(&common.url, common.sources())?,
        minter: Minter::new(&common.secret, &common.audience),
        args: args.clone(),
        pb: progress::bar(args.calls as u64, common.quiet, "calls"),
        claimed: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        carried: AtomicUsize::new(0),
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        setup: Recorder::new(start),
        errors: Errors::default(),
    });
    let pid = common.server_pid;
    let rss_start = pid.and_then(procinfo::rss_bytes);
    let cpu_start = pid.and_then(procinfo::cpu_seconds);

    let pairs = connect_pairs(&ctx, &common.run_prefix(), workers).await;
    // Warm-up: the first calls, all ended and released before the baseline.
    let pairs = phase(&ctx, pairs, warmup).await;
    let paused = Instant::now();
    let (_, _, rss_sample) = released_rss(&ctx, pid, "warmup").await;
    let paused = paused.elapsed();
    let pairs = phase(&ctx, pairs, args.calls).await;
    drop(pairs);
    ctx.pb.finish_and_clear();
    let elapsed = (start.elapsed() - paused).as_secs_f64();
    let cpu_end = pid.and_then(procinfo::cpu_seconds);
    // Everything of the calls must be gone before the final reading.
    let (rooms, conns, rss_end) = released_rss(&ctx, pid, "run").await;

    let mut report = Report::new(
        "media",
        common.label.clone(),
        json!({"calls": args.calls, "concurrency": workers, "talkMs": args.talk_ms, "sampleAfter": warmup,
               "url": common.url}),
    );
    let done = ctx.done.load(Ordering::Relaxed);
    let (sent, received) = (ctx.sent.load(Ordering::Relaxed), ctx.received.load(Ordering::Relaxed));
    report.figure("calls_completed", done as u64);
    report.figure("calls_carried", ctx.carried.load(Ordering::Relaxed) as u64);
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
    if let Some(r) = rss_start {
        report.figure("server_rss_start_mib", mib(r));
    }
    if let Some(r) = rss_sample {
        report.figure(&format!("server_rss_after_{warmup}_calls_mib"), mib(r));
        if let Some(end) = rss_end {
            report.figure(
                "server_rss_growth_pct",
                ((end as f64 / r as f64 - 1.0) * 1000.0).round() / 10.0,
            );
        }
    }
    if let Some(end) = rss_end {
        report.figure("server_rss_end_mib", mib(end));
    }
    if let (Some(a), Some(b)) = (cpu_start, cpu_end) {
        report.figure("server_cpu_seconds", ((b - a) * 100.0).round() / 100.0);
    }
    report.latencies.push(Series::of("call start→media up", &ctx.setup));
    report.errors = ctx.errors.snapshot();
    Ok(report)
}

/// Connects `n` customer/agent pairs at once; a pair that fails is counted as an error and left out.
async fn connect_pairs(ctx: &Arc<Ctx>, run: &str, n: usize) -> Vec<Pair> {
    let tasks: Vec<_> = (0..n)
        .map(|index| {
            let ctx = ctx.clone();
            let tenant = format!("media-{}", index % ctx.args.tenants.max(1));
            let (customer, agent) = (format!("{run}-mc{index}"), format!("{run}-ma{index}"));
            tokio::spawn(async move {
                let (d, m) = (&ctx.dialer, &ctx.minter);
                let customer_ws = connect_user(d, m, &tenant, &customer, false).await?;
                let agent_ws = connect_user(d, m, &tenant, &agent, true).await?;
                anyhow::Ok(Pair {
                    index,
                    tenant,
                    customer,
                    agent,
                    customer_ws,
                    agent_ws,
                    calls: 0,
                })
            })
        })
        .collect();
    let mut pairs = Vec::with_capacity(n);
    for t in tasks {
        match t.await {
            Ok(Ok(p)) => pairs.push(p),
            Ok(Err(e)) => ctx.errors.add(&format!("connect: {e}")),
            Err(e) => ctx.errors.add(&format!("connect: {e}")),
        }
    }
    pairs
}

/// Every pair runs calls until `until` calls have been claimed in all; returns the pairs still usable.
async fn phase(ctx: &Arc<Ctx>, pairs: Vec<Pair>, until: usize) -> Vec<Pair> {
    let tasks: Vec<_> = pairs
        .into_iter()
        .map(|mut pair| {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                while ctx.claim(until) {
                    if let Err(e) = one_call(&ctx, &mut pair).await {
                        ctx.errors.add(&format!("worker: {e}"));
                        return None;
                    }
                }
                Some(pair)
            })
        })
        .collect();
    let mut left = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(Some(p)) = t.await {
            left.push(p);
        }
    }
    left
}

/// Opens a participant's media client on its own socket.
async fn join_media(ctx: &Ctx, p: &Pair, caller: bool, call_id: &str) -> anyhow::Result<RtcClient> {
    let (user, side, expect) = if caller {
        (&p.customer, 0, CALLEE_TAG)
    } else {
        (&p.agent, 1, CALLER_TAG)
    };
    let ws = connect_user(&ctx.dialer, &ctx.minter, &p.tenant, user, !caller).await?;
    let ssrc = (p.index as u32) << 20 | p.calls << 1 | side;
    RtcClient::start(ws, call_id, ssrc, expect, false).await
}

/// One whole call on `p`: ring, accept, media up, talk, check, hang up, close.
async fn one_call(ctx: &Ctx, p: &mut Pair) -> anyhow::Result<()> {
    let packets = (ctx.args.talk_ms / 20).max(1) as u32;
    p.calls += 1;
    let t0 = Instant::now();
    let call_id = establish_call(&mut p.customer_ws, &mut p.agent_ws, &p.agent).await?;
    let caller = join_media(ctx, p, true, &call_id).await?;
    let callee = join_media(ctx, p, false, &call_id).await?;
    let up = tokio::time::timeout(MEDIA_SETUP_TIMEOUT, async {
        tokio::try_join!(caller.wait_connected(), callee.wait_connected())
    })
    .await;
    if let Ok(Ok(_)) = up {
        ctx.setup.record(t0.elapsed());
        tokio::join!(
            caller.send_audio(packets, CALLER_TAG),
            callee.send_audio(packets, CALLEE_TAG)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let got_callee = callee.inbound.tagged.load(Ordering::Relaxed);
        let got_caller = caller.inbound.tagged.load(Ordering::Relaxed);
        ctx.sent.fetch_add(2 * u64::from(packets), Ordering::Relaxed);
        ctx.received.fetch_add(got_callee + got_caller, Ordering::Relaxed);
        let need = (f64::from(packets) * CARRIED_RATIO) as u64;
        if got_callee >= need && got_caller >= need {
            ctx.carried.fetch_add(1, Ordering::Relaxed);
        } else {
            ctx.errors.add("audio_lost");
        }
    } else {
        ctx.errors.add("media_not_connected");
    }
    send_json(
        &mut p.customer_ws,
        &json!({"type": "call.end", "callId": call_id, "ref": "end"}),
    )
    .await?;
    wait_for_type(&mut p.customer_ws, "ack").await?;
    caller.close().await;
    callee.close().await;
    ctx.done.fetch_add(1, Ordering::Relaxed);
    ctx.pb.inc(1);
    Ok(())
}
