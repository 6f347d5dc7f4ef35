//! Tiny runs of every scenario (a few seconds, a few dozen clients) so the harness never rots.
//!
//! switchboard runs in-process on 127.0.0.1:0 with a temporary SQLite file;
//! the PeerJS run starts the `peerjs` binary installed by `npm ci --prefix
//! loadtest/bench` (scripts/test.sh does it).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use switchboard::Application;
use switchboard::config::Settings;
use switchboard::media::MediaMode;
use switchboard_loadtest::cli::{CallsArgs, Cli, Command, Common, ConnectionsArgs, MediaArgs, RelayArgs, Target};
use switchboard_loadtest::report::Report;
use tokio_util::sync::DropGuard;

const SECRET: &str = "loadtest-tiny-secret-0123456789abcdef";
/// Every latency on loopback stays well below this, even in a debug build.
const LOOPBACK_BOUND_MS: f64 = 2000.0;

/// A server under test; dropping it stops the server.
struct Server {
    url: String,
    pid: u32,
    _stop: Stop,
}

enum Stop {
    /// switchboard in this process: the guard cancels it, then its directory goes.
    InProcess { _guard: DropGuard, _dir: tempfile::TempDir },
    /// The PeerJS server, killed on drop.
    Child { _child: tokio::process::Child },
}

async fn switchboard(media_mode: MediaMode) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::with_secret(SECRET.as_bytes());
    settings.store.url = format!("sqlite://{}", dir.path().join("lt.db").display());
    settings.media_mode = media_mode;
    settings.call_rate_per_minute = 100_000;
    settings.call_rate_burst = 100_000;
    settings.sweep_interval = Duration::from_millis(200);
    settings.sfu.recording_dir = dir.path().join("recordings");
    let app = Application::build(settings).await.unwrap();
    let url = format!("http://{}", app.local_addr());
    let guard = app.shutdown_token().drop_guard();
    tokio::spawn(app.run_until_stopped());
    Server {
        url,
        pid: std::process::id(),
        _stop: Stop::InProcess {
            _guard: guard,
            _dir: dir,
        },
    }
}

fn peerjs_bin() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/node_modules/.bin/peerjs");
    assert!(
        bin.exists(),
        "{} is missing: run `npm ci --prefix loadtest/bench` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

async fn peerjs() -> Server {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = tokio::process::Command::new(peerjs_bin())
        .args(["--port", &port.to_string(), "--host", "127.0.0.1", "--path", "/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start peerjs");
    let mut up = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "peerjs did not start");
    Server {
        url: format!("http://127.0.0.1:{port}"),
        pid: child.id().expect("peerjs pid"),
        _stop: Stop::Child { _child: child },
    }
}

/// Runs `command` against `server`, writing into a temporary directory, then
/// stops the server and checks what every run must satisfy: no errors, and a
/// JSON result and an SVG chart with lines written.
async fn tiny(server: Server, command: Command) -> Report {
    let out = tempfile::tempdir().unwrap();
    let common = Common {
        url: vec![server.url.clone()],
        secret: SECRET.into(),
        audience: "authenticated".into(),
        source_ips: 2,
        server_pid: Some(server.pid),
        out_dir: Some(out.path().to_path_buf()),
        label: Some("tiny".into()),
        threads: 2,
        quiet: true,
        run_id: None,
    };
    let r = switchboard_loadtest::run(Cli { common, command }).await.unwrap();
    drop(server);
    assert!(r.errors.is_empty(), "{:?}\n{}", r.errors, r.summary_text());
    check_files(out.path(), &r.scenario);
    r
}

fn check_files(out: &Path, scenario: &str) {
    let names: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(scenario))
        .collect();
    let json = names.iter().find(|n| n.ends_with(".json")).expect("json written");
    let svg = names.iter().find(|n| n.ends_with(".svg")).expect("svg written");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join(json)).unwrap()).unwrap();
    assert_eq!(v["scenario"], scenario);
    let chart = std::fs::read_to_string(out.join(svg)).unwrap();
    assert!(
        chart.starts_with("<svg") && chart.contains("polyline"),
        "chart has lines"
    );
}

/// Asserts `name`'s latency has `count` samples (if given) and a p99 under `bound_ms`.
fn latency(r: &Report, name: &str, count: Option<u64>, bound_ms: f64) -> u64 {
    let s = r.latency(name).unwrap_or_else(|| panic!("no {name} latency"));
    if let Some(n) = count {
        assert_eq!(s.count, n, "{name}: {}", r.summary_text());
    }
    assert!(s.count > 0, "{name}: no samples");
    assert!(s.p99_ms < bound_ms, "{name}: p99 {} ms", s.p99_ms);
    s.count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_connections() {
    let args = ConnectionsArgs {
        count: 40,
        ramp: 400,
        hold: 1,
        tenants: 3,
        agent_share: 0.25,
        concurrency: 16,
    };
    let r = tiny(switchboard(MediaMode::P2p).await, Command::Connections(args)).await;
    assert_eq!(r.num("attempted"), Some(40.0));
    assert_eq!(r.num("connected"), Some(40.0), "{}", r.summary_text());
    assert_eq!(r.num("held_to_the_end"), Some(40.0));
    assert_eq!(r.num("server_sockets_gauge"), Some(40.0));
    latency(&r, "connect→welcome", Some(40), LOOPBACK_BOUND_MS);
    // The ramp holds: 40 attempts 2.5 ms apart span at least 97.5 ms.
    let rate = r.num("achieved_connects_per_sec").unwrap();
    assert!(
        rate > 0.0 && rate <= 411.0,
        "{rate} connects per second at a ramp of 400"
    );
    // /proc/<pid> and the server's own gauge read the same process (this one) moments apart.
    let (proc_mib, metric_mib) = (
        r.num("server_rss_end_of_hold_mib").unwrap(),
        r.num("server_rss_metric_mib").unwrap(),
    );
    assert!(
        (0.75..=1.33).contains(&(proc_mib / metric_mib)),
        "/proc says {proc_mib} MiB, /metrics {metric_mib} MiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_calls() {
    let args = CallsArgs {
        pairs: 20,
        rate: 20.0,
        duration: 2,
        answer_delay_ms: 20,
        hold_ms: 100,
        tenants: 2,
        same_node: false,
    };
    let r = tiny(switchboard(MediaMode::P2p).await, Command::Calls(args)).await;
    let started = r.num("calls_started").unwrap();
    // 20 a second for 2 s: the dispatcher releases 40 (one or two more if its last tick is late).
    assert!((30.0..=42.0).contains(&started), "{}", r.summary_text());
    assert_eq!(r.num("calls_completed"), Some(started));
    for name in ["start→incoming", "accept→accepted", "end→ended"] {
        latency(&r, name, Some(started as u64), LOOPBACK_BOUND_MS);
    }
}

fn relay_args(target: Target, rate_per_pair: f64) -> RelayArgs {
    RelayArgs {
        target,
        pairs: 10,
        rate_per_pair,
        window: 2,
        payload: 100,
        duration: 2,
        warmup: 1,
        peerjs_path: "/".into(),
        tenants: 2,
    }
}

/// Closed loop: every round trip is two relayed messages, except those in flight
/// (at most a window per pair) where the measurement starts and ends.
fn check_closed_loop(r: &Report) {
    assert!(r.num("messages_per_sec").unwrap() > 100.0, "{}", r.summary_text());
    let round_trips = latency(r, "round trip", None, LOOPBACK_BOUND_MS);
    assert!(round_trips > 100, "{}", r.summary_text());
    let relayed = r.num("messages_relayed").unwrap();
    let in_flight = 10.0 * 2.0;
    assert!(
        (relayed - 2.0 * round_trips as f64).abs() <= 4.0 * in_flight,
        "{relayed} relayed for {round_trips} round trips"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_relay_switchboard() {
    let args = relay_args(Target::Switchboard, 0.0);
    let r = tiny(switchboard(MediaMode::P2p).await, Command::Relay(args)).await;
    check_closed_loop(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_relay_fixed_rate() {
    // 10 pairs × 50 messages a second, each relayed there and back: 1,000 relayed a second.
    let args = relay_args(Target::Switchboard, 50.0);
    let r = tiny(switchboard(MediaMode::P2p).await, Command::Relay(args)).await;
    let per_sec = r.num("messages_per_sec").unwrap();
    assert!((800.0..=1200.0).contains(&per_sec), "{}", r.summary_text());
    // One round trip per message sent: 500 a second over the seconds measured.
    let round_trips = latency(&r, "round trip", None, LOOPBACK_BOUND_MS);
    let secs = r.num("messages_relayed").unwrap() / per_sec;
    let trips_per_sec = round_trips as f64 / secs;
    assert!(
        (400.0..=600.0).contains(&trips_per_sec),
        "{trips_per_sec}: {}",
        r.summary_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_relay_peerjs() {
    let r = tiny(peerjs().await, Command::Relay(relay_args(Target::Peerjs, 0.0))).await;
    check_closed_loop(&r);
    assert!(r.num("server_cpu_seconds").is_some(), "read from the peerjs process");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_media() {
    let args = MediaArgs {
        calls: 4,
        concurrency: 2,
        talk_ms: 400,
        sample_after: 2,
        tenants: 1,
    };
    let r = tiny(switchboard(MediaMode::Embedded).await, Command::Media(args)).await;
    assert_eq!(r.num("calls_completed"), Some(4.0), "{}", r.summary_text());
    assert_eq!(r.num("calls_carried"), Some(4.0), "{}", r.summary_text());
    // 20 packets (400 ms) each way per call; a carried call got at least 19 of them each way.
    assert_eq!(r.num("packets_sent"), Some(160.0));
    let received = r.num("packets_received").unwrap();
    assert!((152.0..=160.0).contains(&received), "{}", r.summary_text());
    assert_eq!(r.num("sfu_rooms_left"), Some(0.0));
    assert_eq!(r.num("sfu_connections_left"), Some(0.0));
    assert_eq!(r.params["sampleAfter"], 2);
    for figure in [
        "server_rss_after_2_calls_mib",
        "server_rss_end_mib",
        "server_rss_growth_pct",
    ] {
        assert!(r.num(figure).is_some(), "{figure}: {}", r.summary_text());
    }
    latency(&r, "call start→media up", Some(4), 5000.0);
}
