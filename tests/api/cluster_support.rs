//! Harness for cluster tests: nodes in-process or as real processes on one PostgreSQL schema and one Redis prefix per test, and private Redis servers.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// Redis for tests: `TEST_REDIS_URL`, else the local default. Never skipped.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A prefix no other test uses.
pub fn fresh_prefix() -> String {
    format!("sbtest-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Settings of a cluster node on `url` and `prefix`.
pub fn cluster_settings(s: &mut switchboard::config::Settings, url: &str, prefix: &str, node: &str) {
    s.redis = Some(switchboard::cluster::redis::RedisSettings {
        url: url.into(),
        prefix: prefix.into(),
        node_id: node.into(),
    });
    s.node_id = node.into();
    s.presence_batch_window = Duration::ZERO;
}

/// `n` in-process nodes on one fresh PostgreSQL schema and one fresh prefix of `url`.
pub async fn in_process_nodes(
    n: usize,
    url: &str,
    tweak: impl Fn(&mut switchboard::config::Settings),
) -> (Vec<TestApp>, String) {
    let prefix = fresh_prefix();
    let first = spawn_with(Backend::Postgres, |s| {
        cluster_settings(s, url, &prefix, "node-a");
        tweak(s);
    })
    .await;
    let mut nodes = vec![first];
    for i in 1..n {
        let name = format!("node-{}", (b'a' + i as u8) as char);
        let next = spawn_beside(&nodes[0], |s| {
            cluster_settings(s, url, &prefix, &name);
            tweak(s);
        })
        .await;
        nodes.push(next);
    }
    (nodes, prefix)
}

/// The PostgreSQL schema of an app's store.
pub fn schema_of(app: &TestApp) -> String {
    match &app.db {
        Db::Postgres(s) => s.clone(),
        Db::Sqlite(_) => panic!("cluster tests run on PostgreSQL"),
    }
}

/// A node running as its own process (so it can be killed or paused for real).
pub struct ProcNode {
    pub child: Child,
    pub addr: String,
    pub pid: u32,
}

impl ProcNode {
    /// Starts the binary on `schema`, `prefix` and `redis`, with `env` on top.
    pub async fn start(schema: &str, redis: &str, prefix: &str, node: &str, env: &[(&str, &str)]) -> Self {
        let db = format!("{}?options=-c%20search_path%3D{schema}", pg_url());
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", db)
            .env("SUPABASE_JWT_SECRET", SECRET)
            .env("JWT_AUDIENCE", AUDIENCE)
            .env("SWITCHBOARD_REDIS_URL", redis)
            .env("SWITCHBOARD_REDIS_PREFIX", prefix)
            .env("SWITCHBOARD_NODE_ID", node)
            .env("SWITCHBOARD_MEDIA_MODE", "p2p")
            .env("SWITCHBOARD_NO_WEB", "true")
            .env("PRESENCE_BATCH_MS", "0")
            .env("CALL_RATE_PER_MINUTE", "100000")
            .env("CALL_RATE_BURST", "100000")
            .env("SWITCHBOARD_MAX_CONNECTIONS_PER_IP", "0")
            .env("RUST_LOG", "warn,switchboard=info")
            .args(["--addr", "127.0.0.1:0", "--rtc-port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        let pid = child.id().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = out.next_line().await {
                if let Some(addr) = crate::helpers::listening_addr(&line) {
                    return addr;
                }
            }
            panic!("node {node} exited before listening");
        })
        .await
        .expect("the node did not start");
        // Keep draining its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
        Self { child, addr, pid }
    }

    pub async fn connect(&self, app: &TestApp, p: &Person) -> Ws {
        connect_at(&self.addr, &app.token(p)).await.expect("socket refused")
    }

    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([sig, &self.pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} failed");
    }

    /// `kill -9`.
    pub async fn kill9(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait().await;
    }

    pub async fn readyz(&self) -> (u16, Value) {
        let r = reqwest::get(format!("http://{}/readyz", self.addr)).await.unwrap();
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("http://{}/metrics", self.addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metric_in(&text, name)
    }
}

/// A counter's value in OpenMetrics text (0 if absent).
pub fn metric_in(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The ids of a tenant's available agents as `app` lists them.
pub async fn listed(app: &TestApp, addr: &str, who: &Person) -> Vec<String> {
    let r = app
        .http
        .get(format!("http://{addr}/api/voip/agents/available"))
        .bearer_auth(app.token(who))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    v.as_array()
        .or_else(|| v["agents"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x["supabaseUserId"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `f` every 25 ms until it holds or `limit` passes; returns how long it took.
pub async fn within<F, Fut>(limit: Duration, what: &str, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = Instant::now();
    loop {
        if f().await {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A Redis server of a test's own (to be killed and restarted without touching anyone else's).
pub struct PrivateRedis {
    child: Option<std::process::Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut r = Self {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
        };
        r.up();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (or restarts) the server on the same port; waits until it answers.
    pub fn up(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir.path().to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/setup.sh)");
        self.child = Some(child);
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(10), "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (everything it held is gone).
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `CLIENT KILL TYPE pubsub`: every subscriber connection is dropped.
    pub async fn kill_subscribers(&self) -> i64 {
        let client = redis::Client::open(self.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut c)
            .await
            .unwrap()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.down();
    }
}
