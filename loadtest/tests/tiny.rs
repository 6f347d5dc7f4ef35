//! Tiny runs of every scenario (a few seconds, a few dozen clients) so the harness never rots.
//!
//! switchboard runs in-process on 127.0.0.1:0 with a temporary SQLite file;
//! the PeerJS run starts the `peerjs` binary installed by `npm ci --prefix
//! loadtest/bench` (scripts/test.sh does it).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use switchboard::Application;
use switchboard::config::Settings;
use switchboard::media::MediaMode;
use switchboard_loadtest::cli::{CallsArgs, Cli, Command, Common, ConnectionsArgs, MediaArgs, RelayArgs, Target};
use switchboard_loadtest::report::Report;

const SECRET: &str = "loadtest-tiny-secret-0123456789abcdef";

struct Server {
    url: String,
    stop: tokio_util_stop::Stop,
    _dir: tempfile::TempDir,
}

mod tokio_util_stop {
    /// Cancels the server when dropped.
    pub struct Stop(pub Box<dyn Fn() + Send + Sync>);
    impl Drop for Stop {
        fn drop(&mut self) {
            (self.0)();
        }
    }
}

async fn switchboard() -> Server {
    switchboard_in(MediaMode::P2p).await
}

async fn switchboard_in(media_mode: MediaMode) -> Server {
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
    let token = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    Server {
        url,
        stop: tokio_util_stop::Stop(Box::new(move || token.cancel())),
        _dir: dir,
    }
}

fn common(url: &str, out: &std::path::Path) -> Common {
    Common {
        url: url.to_owned(),
        secret: SECRET.into(),
        audience: "authenticated".into(),
        source_ips: 2,
        server_pid: Some(std::process::id()),
        out_dir: Some(out.to_path_buf()),
        label: Some("tiny".into()),
        threads: 2,
        quiet: true,
        run_id: None,
    }
}

fn check_files(out: &std::path::Path, scenario: &str) {
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

async fn run(common: Common, command: Command) -> Report {
    switchboard_loadtest::run(Cli { common, command }).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_connections() {
    let server = switchboard().await;
    let out = tempfile::tempdir().unwrap();
    let r = run(
        common(&server.url, out.path()),
        Command::Connections(ConnectionsArgs {
            count: 40,
            ramp: 400,
            hold: 1,
            tenants: 3,
            agent_share: 0.25,
            concurrency: 16,
        }),
    )
    .await;
    assert_eq!(r.num("connected"), Some(40.0), "{}", r.summary_text());
    assert_eq!(r.num("held_to_the_end"), Some(40.0));
    assert_eq!(r.num("server_sockets_gauge"), Some(40.0));
    assert!(r.num("server_bytes_per_socket").is_some());
    assert_eq!(r.latency("connect→welcome").unwrap().count, 40);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    check_files(out.path(), "connections");
    drop(server.stop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_calls() {
    let server = switchboard().await;
    let out = tempfile::tempdir().unwrap();
    let r = run(
        common(&server.url, out.path()),
        Command::Calls(CallsArgs {
            pairs: 20,
            rate: 20.0,
            duration: 2,
            answer_delay_ms: 20,
            hold_ms: 100,
            tenants: 2,
        }),
    )
    .await;
    let started = r.num("calls_started").unwrap();
    assert!(started >= 30.0, "{}", r.summary_text());
    assert_eq!(r.num("calls_completed"), Some(started));
    for name in ["start→incoming", "accept→accepted", "end→ended"] {
        let s = r.latency(name).unwrap();
        assert_eq!(s.count as f64, started, "{name}");
        assert!(s.p50_ms > 0.0 && s.p99_ms >= s.p50_ms);
    }
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    check_files(out.path(), "calls");
    drop(server.stop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_relay_switchboard() {
    let server = switchboard().await;
    let out = tempfile::tempdir().unwrap();
    let r = run(
        common(&server.url, out.path()),
        Command::Relay(relay_args(Target::Switchboard)),
    )
    .await;
    assert!(r.num("messages_per_sec").unwrap() > 100.0, "{}", r.summary_text());
    assert!(r.latency("round trip").unwrap().count > 100);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    check_files(out.path(), "relay");
    drop(server.stop);
}

fn relay_args(target: Target) -> RelayArgs {
    RelayArgs {
        target,
        pairs: 10,
        rate_per_pair: 0.0,
        window: 2,
        payload: 100,
        duration: 2,
        warmup: 1,
        peerjs_path: "/".into(),
        tenants: 2,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_relay_peerjs() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(peerjs_bin())
        .args(["--port", &port.to_string(), "--host", "127.0.0.1", "--path", "/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start peerjs");
    let url = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "peerjs did not start");
    let out = tempfile::tempdir().unwrap();
    let mut c = common(&url, out.path());
    c.server_pid = child.id();
    let r = run(c, Command::Relay(relay_args(Target::Peerjs))).await;
    assert!(r.num("messages_per_sec").unwrap() > 100.0, "{}", r.summary_text());
    assert!(r.latency("round trip").unwrap().count > 100);
    assert!(r.num("server_cpu_seconds").is_some());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let _ = child.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_media() {
    let server = switchboard_in(MediaMode::Embedded).await;
    let out = tempfile::tempdir().unwrap();
    let r = run(
        common(&server.url, out.path()),
        Command::Media(MediaArgs {
            calls: 4,
            concurrency: 2,
            talk_ms: 400,
            sample_after: 2,
            tenants: 1,
        }),
    )
    .await;
    assert_eq!(r.num("calls_completed"), Some(4.0), "{}", r.summary_text());
    assert_eq!(r.num("calls_carried"), Some(4.0), "{}", r.summary_text());
    assert!(r.num("delivery_ratio").unwrap() > 0.9);
    assert_eq!(r.num("sfu_rooms_left"), Some(0.0));
    assert_eq!(r.num("sfu_connections_left"), Some(0.0));
    assert_eq!(r.latency("call start→media up").unwrap().count, 4);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    check_files(out.path(), "media");
    drop(server.stop);
}
