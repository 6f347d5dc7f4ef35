//! The real binary, started as a user starts it: from any directory, with what it says when
//! something is wrong (the database URL, the database, the recording directory), and its logs.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::WAIT;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

fn command(cwd: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["--dev", "--addr", "127.0.0.1:0", "--rtc-port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// `command` with a SQLite file of its own in `cwd`.
fn command_with_db(cwd: &std::path::Path) -> Command {
    let mut c = command(cwd);
    c.env("DATABASE_URL", format!("sqlite://{}", cwd.join("sb.db").display()));
    c
}

/// Runs the binary to its end (it is expected to refuse to start); returns (exit code, stderr).
async fn refused(mut c: Command) -> (i32, String) {
    let out = tokio::time::timeout(Duration::from_secs(30), c.output())
        .await
        .expect("the server should have refused to start")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A started server: its address and its log lines.
struct Running {
    _child: Child,
    addr: String,
    /// The lines up to "listening on".
    first: Vec<String>,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

async fn started(mut c: Command) -> Running {
    let mut child = c.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = out.next_line().await {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut first = Vec::new();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let line = lines.recv().await.expect("the server exited before listening");
            first.push(line.clone());
            if let Some(addr) = crate::helpers::listening_addr(&line) {
                return addr;
            }
        }
    })
    .await
    .expect("the server never said where it listens");
    Running {
        _child: child,
        addr,
        first,
        lines,
    }
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next log line containing `needle`.
    async fn line_with(&mut self, needle: &str) -> String {
        tokio::time::timeout(WAIT, async {
            loop {
                let line = self.lines.recv().await.expect("log ended");
                if line.contains(needle) {
                    return line;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no log line with {needle:?}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_demo_is_served_from_any_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let c = command_with_db(cwd.path());
    let server = started(c).await;
    let http = reqwest::Client::new();
    let page = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let etag = page.headers()["etag"].clone();
    assert!(
        page.text().await.unwrap().contains("switchboard"),
        "the demo's index page"
    );
    let js = http.get(server.url("/js/agent.js")).send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.headers()["content-type"].to_str().unwrap().contains("javascript"));
    // Revalidation is cheap; the browser tests and their packages are not in the binary.
    let again = http
        .get(server.url("/"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    for hidden in ["/tests/package.json", "/tests/demo.test.mjs", "/README.md"] {
        let r = http.get(server.url(hidden)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{hidden}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "not_found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_url_that_is_not_sqlite_or_postgres_is_refused_without_creating_a_file() {
    let cwd = tempfile::tempdir().unwrap();
    for (url, hint) in [
        ("postgress://x@localhost/db", "did you mean postgres://"),
        ("mysql://root@localhost/db", "MySQL"),
        ("::::", "unknown scheme"),
    ] {
        let mut c = command(cwd.path());
        c.env("DATABASE_URL", url);
        let (code, stderr) = refused(c).await;
        assert_eq!(code, 2, "{url}: {stderr}");
        assert!(
            stderr.contains("DATABASE_URL") && stderr.contains(hint),
            "{url}: {stderr}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(left.is_empty(), "no SQLite file was made of a typo: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_cannot_be_reached_is_named_once_with_its_cause() {
    let cwd = tempfile::tempdir().unwrap();
    let mut c = command(cwd.path());
    c.env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/switchboard");
    let (code, stderr) = refused(c).await;
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stderr.matches("cannot connect to PostgreSQL at 127.0.0.1:1").count(),
        1,
        "{stderr}"
    );
    assert_eq!(stderr.matches("refused").count(), 1, "the cause, once: {stderr}");
    let mut c = command(cwd.path());
    c.env("DATABASE_URL", "sqlite:///nonexistent-directory/sb.db");
    let (code, stderr) = refused(c).await;
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.matches("unable to open database file").count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent-directory/sb.db"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_recording_directory_is_refused_when_recording_is_on() {
    let cwd = tempfile::tempdir().unwrap();
    let blocker = cwd.path().join("not-a-directory");
    std::fs::write(&blocker, b"x").unwrap();
    let mut c = command_with_db(cwd.path());
    c.env("SWITCHBOARD_RECORD_CALLS", "true")
        .env("SWITCHBOARD_RECORDING_DIR", &blocker);
    let (code, stderr) = refused(c).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("recording directory") && stderr.contains("not-a-directory"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_lines_with_each_calls_start_answer_and_end() {
    let cwd = tempfile::tempdir().unwrap();
    let mut c = command_with_db(cwd.path());
    c.env("SWITCHBOARD_LOG_FORMAT", "json");
    let mut server = started(c).await;
    let http = reqwest::Client::new();
    let token = |body: Value| {
        let http = http.clone();
        let url = server.url("/dev/token");
        async move {
            let v: Value = http.post(url).json(&body).send().await.unwrap().json().await.unwrap();
            v["token"].as_str().unwrap().to_owned()
        }
    };
    let agent = token(json!({"userId": "a1", "tenantId": "acme", "participantType": "CRM_USER"})).await;
    let customer = token(json!({"userId": "c1", "tenantId": "acme", "participantType": "PORTAL_CUSTOMER"})).await;
    let ws_url = format!("ws://{}/api/voip/ws?access_token={agent}", server.addr);
    let (_agent_ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let placed: Value = http
        .post(server.url("/api/voip/start-call"))
        .bearer_auth(&customer)
        .json(&json!({"calleeSupabaseId": "a1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = placed["callId"].as_str().unwrap().to_owned();
    for action in ["accept", "end"] {
        let who = if action == "accept" { &agent } else { &customer };
        let r = http
            .post(server.url(&format!("/api/voip/calls/{id}/{action}")))
            .bearer_auth(who)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    for (message, user) in [("call started", "c1"), ("call answered", "a1"), ("call ended", "c1")] {
        let line = server.line_with(&format!("\"message\":\"{message}\"")).await;
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert_eq!(v["level"], "INFO", "{line}");
        assert_eq!(v["fields"]["call"], id.as_str(), "{line}");
        assert_eq!(v["fields"]["tenant"], "acme", "{line}");
        assert_eq!(v["fields"]["user"], user, "{line}");
        // Which request it came from: the span of its route.
        let spans = v["spans"].as_array().expect("span list");
        assert!(
            spans.iter().any(|s| s["name"] == "request" && s["route"].is_string()),
            "{line}"
        );
        assert!(!line.contains('\u{1b}'), "no colour codes in a pipe: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_into_a_pipe_have_no_colour_codes() {
    let cwd = tempfile::tempdir().unwrap();
    let c = command_with_db(cwd.path());
    let server = started(c).await;
    assert!(
        server.first.iter().any(|l| l.contains("DEV MODE")),
        "{:?}",
        server.first
    );
    for line in &server.first {
        assert!(!line.contains('\u{1b}'), "{line:?}");
    }
}
