//! Test harness: boots the real server on 127.0.0.1:0 against a fresh store, plus HTTP and WebSocket clients.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use switchboard::auth::Verifier;
use switchboard::auth::claims::{AppMetadata, Claims, UserMetadata};
use switchboard::config::Settings;
use switchboard::media::MediaMode;
use switchboard::store::{Store, StoreOptions};
use switchboard::{AppState, Application};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";
pub const AUDIENCE: &str = "authenticated";
/// How long a test waits for any expected frame.
pub const WAIT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates a `sqlite` and a `postgres` variant of each listed test.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::Backend::Postgres).await } )*
        }
    };
}

/// PostgreSQL for tests: `TEST_DATABASE_URL`, else the local default. Never skipped.
pub fn pg_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The address in a server's "listening on http://…" log line, if it is that line.
pub fn listening_addr(line: &str) -> Option<String> {
    let i = line.find("listening on http://")?;
    let rest = &line[i + "listening on http://".len()..];
    rest.split(|c: char| c == '"' || c.is_whitespace())
        .next()
        .map(str::to_owned)
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Where a test's data lives; kept so the server can be restarted on it.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

async fn fresh_db(backend: Backend, dir: &tempfile::TempDir) -> Db {
    match backend {
        Backend::Sqlite => Db::Sqlite(dir.path().join("switchboard.db")),
        Backend::Postgres => {
            let admin = sqlx::PgPool::connect(&pg_url())
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at TEST_DATABASE_URL={} is required: {e}", pg_url()));
            // Drop schemas left by runs more than an hour old.
            let old: Vec<(String,)> =
                sqlx::query_as("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'sbt\\_%'")
                    .fetch_all(&admin)
                    .await
                    .unwrap();
            for (name,) in old {
                let ts: i64 = name.split('_').nth(1).and_then(|t| t.parse().ok()).unwrap_or(0);
                if ts < now_secs() - 3600 {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {name} CASCADE")))
                        .execute(&admin)
                        .await;
                }
            }
            let schema = format!("sbt_{}_{}", now_secs(), uuid::Uuid::new_v4().simple());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
            Db::Postgres(schema)
        }
    }
}

async fn open_store(db: &Db) -> Store {
    match db {
        Db::Sqlite(path) => Store::open(&StoreOptions {
            url: format!("sqlite://{}", path.display()),
            max_connections: 4,
            sqlite_synchronous_full: false,
        })
        .await
        .unwrap(),
        Db::Postgres(schema) => {
            let opts = PgConnectOptions::from_str(&pg_url())
                .unwrap()
                .options([("search_path", schema.as_str())]);
            Store::open_postgres(opts, 8).await.unwrap()
        }
    }
}

/// Settings for tests: p2p media (the media tests switch), short sweeps, generous rate limit.
/// `SWITCHBOARD_TEST_LOG=<filter>`: the server's logs, shown with a failing test's output.
fn init_test_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("SWITCHBOARD_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

pub fn test_settings() -> Settings {
    init_test_log();
    let mut s = Settings::with_secret(SECRET.as_bytes());
    s.auth.audience = AUDIENCE.into();
    s.media_mode = MediaMode::P2p;
    s.call_rate_per_minute = 10_000;
    s.call_rate_burst = 10_000;
    s.node_id = "test-node".into();
    s.sweep_interval = Duration::from_millis(100);
    s.sfu.recording_dir = std::env::temp_dir().join("switchboard-test-recordings");
    s
}

/// A running server and the means to talk to it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub state: AppState,
    pub backend: Backend,
    pub db: Db,
    pub settings: Settings,
    verifier: Verifier,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: std::sync::Arc<tempfile::TempDir>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_with(backend, |_| {}).await
}

pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let db = fresh_db(backend, &dir).await;
    let mut settings = test_settings();
    tweak(&mut settings);
    start(backend, db, settings, dir).await
}

/// Another server on `app`'s store (another node of the same deployment).
pub async fn spawn_beside(app: &TestApp, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings();
    tweak(&mut settings);
    start(app.backend, app.db.clone(), settings, app._dir.clone()).await
}

async fn start(backend: Backend, db: Db, settings: Settings, dir: std::sync::Arc<tempfile::TempDir>) -> TestApp {
    let store = open_store(&db).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = Application::build_with_store(settings.clone(), listener, store)
        .await
        .unwrap();
    let addr = app.local_addr();
    let state = app.state().clone();
    let stop = app.shutdown_token();
    let task = tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        http: reqwest::Client::new(),
        state,
        backend,
        db,
        verifier: Verifier::new(
            settings.auth.jwt_secret.as_deref().unwrap_or(SECRET.as_bytes()),
            &settings.auth.audience,
        ),
        settings,
        stop,
        task,
        _dir: dir,
    }
}

/// A test participant.
#[derive(Clone, Debug)]
pub struct Person {
    pub tenant: String,
    pub id: String,
    pub kind: &'static str,
    pub first: String,
}

pub fn agent(tenant: &str, id: &str) -> Person {
    Person {
        tenant: tenant.into(),
        id: id.into(),
        kind: "CRM_USER",
        first: format!("Agent {id}"),
    }
}

pub fn customer(tenant: &str, id: &str) -> Person {
    Person {
        tenant: tenant.into(),
        id: id.into(),
        kind: "PORTAL_CUSTOMER",
        first: format!("Customer {id}"),
    }
}

pub fn claims_of(p: &Person) -> Claims {
    Claims {
        sub: Some(p.id.clone()),
        aud: Some(json!(AUDIENCE)),
        exp: Some(now_secs() + 3600),
        iat: Some(now_secs()),
        role: Some("authenticated".into()),
        email: Some(format!("{}@example.com", p.id)),
        app_metadata: AppMetadata {
            tenant_id: Some(json!(p.tenant)),
            participant_type: Some(p.kind.into()),
            role: None,
        },
        user_metadata: UserMetadata {
            first_name: Some(p.first.clone()),
            last_name: Some("Tester".into()),
            full_name: None,
        },
        ..Claims::default()
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn token(&self, p: &Person) -> String {
        self.verifier.mint(&claims_of(p)).unwrap()
    }

    pub fn mint(&self, claims: &Claims) -> String {
        self.verifier.mint(claims).unwrap()
    }

    /// Sockets dropped as slow consumers so far (the server's own counter).
    pub fn slow_consumers(&self) -> u64 {
        self.state.metrics.slow_consumers.get()
    }

    pub fn service_token(&self) -> String {
        self.mint(&Claims {
            role: Some("service_role".into()),
            exp: Some(now_secs() + 600),
            ..Claims::default()
        })
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.put(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Opens a socket for `p` and reads its `welcome`.
    pub async fn connect(&self, p: &Person) -> Ws {
        self.connect_token(&self.token(p)).await.expect("socket refused")
    }

    /// Opens a socket with a raw token; `Err(status)` if the upgrade was refused.
    pub async fn connect_token(&self, token: &str) -> Result<Ws, u16> {
        connect_at(&self.addr.to_string(), token).await
    }

    /// Stops the server as a crash would leave the calls (sessions close, nothing is ended).
    pub async fn stop(self) -> (Backend, Db, Settings, std::sync::Arc<tempfile::TempDir>) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        (self.backend, self.db, self.settings, self._dir)
    }

    /// Stops this server and starts a new one on the same store.
    pub async fn restart(self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let (backend, db, mut settings, dir) = self.stop().await;
        tweak(&mut settings);
        start(backend, db, settings, dir).await
    }
}

/// Opens a socket at `addr` with a raw token and reads its `welcome`; `Err(status)` if refused.
pub async fn connect_at(addr: &str, token: &str) -> Result<Ws, u16> {
    connect_waiting(addr, token, WAIT).await
}

/// As `connect_at`, each read waiting up to `wait` (load tests on a shared machine).
pub async fn connect_waiting(addr: &str, token: &str, wait: Duration) -> Result<Ws, u16> {
    let url = format!("ws://{addr}/api/voip/ws?access_token={token}");
    match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => {
            let mut ws = Ws {
                ws,
                inbox: VecDeque::new(),
                welcome: Value::Null,
                next_ref: 0,
                wait,
            };
            let welcome = ws.next_of("welcome").await;
            ws.welcome = welcome;
            Ok(ws)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("connect failed: {e}"),
    }
}

/// A WebSocket client that keeps frames it was not waiting for.
pub struct Ws {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    inbox: VecDeque<Value>,
    pub welcome: Value,
    next_ref: u64,
    /// How long a read waits for a frame (`WAIT` unless a test sets it).
    pub wait: Duration,
}

impl Ws {
    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.unwrap();
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::Text(text.to_owned().into())).await.unwrap();
    }

    /// Reads the next JSON frame from the socket, or `None` once it closed.
    async fn read(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(self.wait, self.ws.next())
                .await
                .expect("timed out waiting for a frame")?;
            match msg {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).expect("server sent invalid JSON")),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// The next frame matching `pred` (earlier non-matching ones stay queued).
    pub async fn next_where(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.inbox.iter().position(&pred) {
            return self.inbox.remove(i).unwrap();
        }
        loop {
            let v = self
                .read()
                .await
                .unwrap_or_else(|| panic!("socket closed while waiting for {what}; queued: {:?}", self.inbox));
            if pred(&v) {
                return v;
            }
            self.inbox.push_back(v);
        }
    }

    /// The next frame of `type` if one comes within `self.wait`, else `None` (the socket stays usable).
    pub async fn try_next_of(&mut self, ty: &str) -> Option<Value> {
        if let Some(i) = self.inbox.iter().position(|v| v["type"] == ty) {
            return self.inbox.remove(i);
        }
        loop {
            let msg = tokio::time::timeout(self.wait, self.ws.next()).await.ok()??;
            if let Ok(Message::Text(t)) = msg {
                let v: Value = serde_json::from_str(&t).ok()?;
                if v["type"] == ty {
                    return Some(v);
                }
                self.inbox.push_back(v);
            }
        }
    }

    /// The next frame of `type`.
    pub async fn next_of(&mut self, ty: &str) -> Value {
        let ty_owned = ty.to_owned();
        self.next_where(ty, move |v| v["type"] == ty_owned.as_str()).await
    }

    /// Sends `v` with a fresh `ref` and returns the `ack` or `error` carrying it.
    pub async fn request(&mut self, mut v: Value) -> Value {
        self.next_ref += 1;
        let r = format!("r{}", self.next_ref);
        v["ref"] = json!(r);
        self.send(v).await;
        self.next_where("reply", move |f| {
            f["ref"] == r.as_str() && (f["type"] == "ack" || f["type"] == "error" || f["type"] == "pong")
        })
        .await
    }

    /// Whether a frame of `type` was read and is waiting in the inbox.
    pub fn has_queued(&self, ty: &str) -> bool {
        self.inbox.iter().any(|v| v["type"] == ty)
    }

    /// Asserts no frame of `type` arrives within `dur`.
    pub async fn expect_no(&mut self, ty: &str, dur: Duration) {
        assert!(
            !self.inbox.iter().any(|v| v["type"] == ty),
            "unexpected {ty} already queued: {:?}",
            self.inbox
        );
        let deadline = tokio::time::Instant::now() + dur;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return;
            }
            match tokio::time::timeout(left, self.ws.next()).await {
                Err(_) => return,
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return,
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    assert_ne!(v["type"], ty, "unexpected frame {v}");
                    self.inbox.push_back(v);
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Waits for the server to close the socket; returns the close code if it sent one.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("socket stayed open")
            {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next raw message (pings, closes included); `None` once the connection is gone.
    pub async fn next_raw(&mut self) -> Option<Message> {
        match tokio::time::timeout(WAIT, self.ws.next())
            .await
            .expect("timed out waiting for a message")
        {
            Some(Ok(m)) => Some(m),
            _ => None,
        }
    }

    /// Reads raw messages (pings included) for `dur`; returns how many pings arrived.
    pub async fn count_pings(&mut self, dur: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + dur;
        let mut pings = 0;
        while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            if let Message::Ping(_) = m {
                pings += 1;
            }
        }
        pings
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// Drops the TCP connection without a close handshake.
    pub fn kill(self) {
        drop(self.ws);
    }
}

/// Milliseconds of an ISO-8601 timestamp written by the server.
pub fn ms_of(iso: &Value) -> i64 {
    let s = iso.as_str().expect("timestamp");
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}
