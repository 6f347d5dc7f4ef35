//! `connections`: open N authenticated sockets at a ramp rate, hold them, measure latency and server memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;

use super::{connect_user_on, metric};
use crate::auth::Minter;
use crate::cli::{Common, ConnectionsArgs};
use crate::net::Dialer;
use crate::procinfo;
use crate::progress;
use crate::report::{Report, Series, mib};
use crate::stats::{Errors, Recorder};

/// How long one connection attempt may take (TCP + upgrade + welcome).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(common: &Common, args: &ConnectionsArgs) -> anyhow::Result<Report> {
    let dialer = Arc::new(Dialer::new(&common.url, common.sources())?);
    let minter = Arc::new(Minter::new(&common.secret, &common.audience));
    let mut report = Report::new(
        "connections",
        common.label.clone(),
        json!({"count": args.count, "ramp": args.ramp, "hold": args.hold, "tenants": args.tenants,
               "sourceIps": common.source_ips, "url": common.url}),
    );
    let server = dialer.server();
    let nodes = dialer.servers();
    let mut node_rss_before = Vec::new();
    for n in &nodes {
        node_rss_before.push(metric(*n, "switchboard_process_resident_bytes").await);
    }
    let rss_before = common.server_pid.and_then(procinfo::rss_bytes);
    let sockets_before = metric(server, "switchboard_sockets").await;

    let start = Instant::now();
    let latency = Arc::new(Recorder::new(start));
    let errors = Arc::new(Errors::default());
    let connected = Arc::new(AtomicUsize::new(0));
    let limit = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let pb = progress::bar(args.count as u64, common.quiet, "connecting");
    let mut tasks = Vec::with_capacity(args.count);
    let agents = ((args.count as f64) * args.agent_share).round() as usize;
    let gap = Duration::from_secs_f64(1.0 / f64::from(args.ramp.max(1)));
    let mut next = tokio::time::Instant::now();
    let run = common.run_prefix();

    for i in 0..args.count {
        // Latency runs from the attempt's scheduled moment, so time spent
        // behind the ramp or waiting for a --concurrency permit counts.
        let due = next;
        tokio::time::sleep_until(due).await;
        next += gap;
        let permit = limit.clone().acquire_owned().await?;
        let (dialer, minter, latency, errors, connected) = (
            dialer.clone(),
            minter.clone(),
            latency.clone(),
            errors.clone(),
            connected.clone(),
        );
        let mut stop = stop_rx.clone();
        let tenant = format!("tenant-{}", i % args.tenants.max(1));
        let user = format!("{run}-user-{i}");
        let agent = i < agents;
        let pb = pb.clone();
        tasks.push(tokio::spawn(async move {
            // Connection i goes to node i (modulo the nodes): a known agent on every node.
            let attempt = connect_user_on(&dialer, i, &minter, &tenant, &user, agent);
            let ws = tokio::time::timeout(CONNECT_TIMEOUT, attempt).await;
            drop(permit);
            pb.inc(1);
            let mut ws = match ws {
                Ok(Ok(ws)) => ws,
                Ok(Err(e)) => {
                    errors.add(&classify(&e));
                    return;
                }
                Err(_) => {
                    errors.add("timeout");
                    return;
                }
            };
            latency.record(due.elapsed());
            connected.fetch_add(1, Ordering::Relaxed);
            // Hold: keep reading (answers the server's pings) until told to stop.
            loop {
                tokio::select! {
                    m = ws.next() => match m {
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                            errors.add("dropped_while_held");
                            connected.fetch_sub(1, Ordering::Relaxed);
                            return;
                        }
                        Some(Ok(_)) => {}
                    },
                    _ = stop.changed() => break,
                }
            }
            let _ = ws.close(None).await;
        }));
    }
    // Wait for every attempt to finish (connected or failed).
    let _ = limit.acquire_many(args.concurrency.max(1) as u32).await?;
    pb.finish_and_clear();
    let ramp_secs = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held_rss = common.server_pid.and_then(procinfo::rss_bytes);
    let sockets_held = metric(server, "switchboard_sockets").await;
    if nodes.len() > 1 {
        for (k, n) in nodes.iter().enumerate() {
            let socks = metric(*n, "switchboard_sockets").await;
            let rss = metric(*n, "switchboard_process_resident_bytes").await;
            if let Some(v) = socks {
                report.figure(&format!("node{}_sockets", k + 1), v);
            }
            if let (Some(r), Some(b), Some(c)) = (rss, node_rss_before[k], socks) {
                report.figure(&format!("node{}_rss_mib", k + 1), mib(r as u64));
                if c > 0.0 {
                    report.figure(&format!("node{}_bytes_per_socket", k + 1), ((r - b) / c).round());
                }
            }
        }
        // Presence across nodes: an agent held by the last node, as the first node lists it.
        if let Some(j) = (0..agents).rev().find(|j| j % nodes.len() == nodes.len() - 1) {
            let tenant = format!("tenant-{}", j % args.tenants.max(1));
            let token = minter.token(&tenant, &format!("{run}-observer"), true)?;
            let body = super::http_get_as(nodes[0], "/api/voip/agents/available", Some(&token)).await?;
            let needle = format!("\"{run}-user-{j}\"");
            let listed = body.contains(&needle);
            report.figure("presence_last_node_agent_listed_on_first", u64::from(listed));
            println!(
                "presence: agent {run}-user-{j} (node {}) listed on node 1: {listed}",
                nodes.len()
            );
        }
    }
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let still = connected.load(Ordering::Relaxed);
    let rss_end = common.server_pid.and_then(procinfo::rss_bytes);
    let server_rss_metric = metric(server, "switchboard_process_resident_bytes").await;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }

    let ok = latency.summary().count;
    report.figure("attempted", args.count as u64);
    report.figure("connected", ok);
    report.figure("held_to_the_end", still as u64);
    report.figure("ramp_seconds", (ramp_secs * 100.0).round() / 100.0);
    report.figure(
        "achieved_connects_per_sec",
        ((ok as f64 / ramp_secs) * 10.0).round() / 10.0,
    );
    if let Some(n) = sockets_held {
        report.figure("server_sockets_gauge", n - sockets_before.unwrap_or(0.0));
    }
    if let (Some(before), Some(held)) = (rss_before, held_rss) {
        report.figure("server_rss_before_mib", mib(before));
        report.figure("server_rss_held_mib", mib(held));
        if ok > 0 {
            report.figure(
                "server_bytes_per_socket",
                ((held.saturating_sub(before)) as f64 / ok as f64).round(),
            );
        }
    }
    if let Some(end) = rss_end {
        report.figure("server_rss_end_of_hold_mib", mib(end));
    }
    if let Some(m) = server_rss_metric {
        report.figure("server_rss_metric_mib", mib(m as u64));
    }
    if let Some(rss) = procinfo::rss_bytes(std::process::id()) {
        report.figure("loadgen_rss_mib", mib(rss));
    }
    report.latencies.push(Series::of("connect→welcome", &latency));
    report.errors = errors.snapshot();
    Ok(report)
}

/// A short error label for the report.
pub fn classify(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    for (needle, label) in [
        ("Address already in use", "addr_in_use"),
        ("Cannot assign requested address", "no_ephemeral_port"),
        ("Connection refused", "refused"),
        ("Too many open files", "fd_limit"),
        ("401", "http_401"),
        ("503", "http_503"),
        ("reset", "reset"),
    ] {
        if text.contains(needle) {
            return label.to_owned();
        }
    }
    "other".to_owned()
}
