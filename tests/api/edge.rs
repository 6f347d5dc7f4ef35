//! The network edge: header and keep-alive timeouts, per-address and per-user caps, slowloris,
//! close codes a client really sees (1009, 1008), and the JSON of every error body.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

/// A TCP connection to `addr` from the loopback address `local` (127.0.0.x).
async fn tcp_from(local: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Reads until the server closes; returns what it sent and how long that took.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(start.elapsed()), stream.read(&mut buf)).await {
            Err(_) => panic!("still open after {limit:?}; got {:?}", String::from_utf8_lossy(&got)),
            Ok(Ok(0)) => return (got, start.elapsed()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => panic!("connection reset instead of closed: {e}"),
        }
    }
}

const HALF_REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: switchboard\r\nX-Slow: ";

async fn a_half_sent_request_is_closed_after_the_header_timeout(b: Backend) {
    let app = spawn_with(b, |s| s.net.header_timeout = Duration::from_millis(400)).await;
    let mut half = tcp_from("127.0.0.1", app.addr).await;
    half.write_all(HALF_REQUEST).await.unwrap();
    let mut silent = tcp_from("127.0.0.1", app.addr).await;
    // A byte now and then does not keep it open: the deadline counts from the start.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        half.write_all(b"x").await.unwrap();
    }
    let (_, t) = until_closed(&mut half, Duration::from_secs(5)).await;
    assert!(t < Duration::from_secs(3), "closed after {t:?}");
    let (sent, t) = until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(sent.is_empty() && t < Duration::from_secs(3));
    // A complete request on time is served.
    let mut ok = tcp_from("127.0.0.1", app.addr).await;
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (reply, _) = until_closed(&mut ok, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 200"), "{reply:?}");
}

async fn an_idle_keep_alive_connection_is_closed(b: Backend) {
    let app = spawn_with(b, |s| {
        s.net.keepalive_timeout = Duration::from_millis(300);
        s.net.header_timeout = Duration::from_secs(30);
    })
    .await;
    let mut c = tcp_from("127.0.0.1", app.addr).await;
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = c.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Kept alive: a second request on the same connection is served.
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let n = c.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Then idle: closed after the keep-alive timeout, not the header timeout.
    let (_, t) = until_closed(&mut c, Duration::from_secs(5)).await;
    assert!(t >= Duration::from_millis(250) && t < Duration::from_secs(3), "{t:?}");
    // A signaling socket is not an idle HTTP connection: it outlives the timeout.
    let mut ws = app.connect(&customer("t1", "c")).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(ws.request(json!({"type": "ping"})).await["type"], "pong");
}

async fn one_address_cannot_hold_every_connection(b: Backend) {
    let app = spawn_with(b, |s| s.net.max_connections_per_ip = 5).await;
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut c = tcp_from("127.0.0.1", app.addr).await;
        c.write_all(HALF_REQUEST).await.unwrap();
        held.push(c);
    }
    let mut refused = tcp_from("127.0.0.1", app.addr).await;
    let (reply, _) = until_closed(&mut refused, Duration::from_secs(5)).await;
    let text = String::from_utf8(reply).unwrap();
    assert!(text.starts_with("HTTP/1.1 429"), "{text}");
    assert!(text.to_ascii_lowercase().contains("retry-after: 1"), "{text}");
    let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "too_many_connections");
    // Another address is served meanwhile.
    let mut other = tcp_from("127.0.0.2", app.addr).await;
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (reply, _) = until_closed(&mut other, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 200"));
    // A slot given back is taken again.
    drop(held.pop());
    let deadline = Instant::now() + WAIT;
    loop {
        let mut again = tcp_from("127.0.0.1", app.addr).await;
        again
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let (reply, _) = until_closed(&mut again, Duration::from_secs(5)).await;
        if String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn half_sent_requests_at_the_global_cap_do_not_starve_healthz(b: Backend) {
    // Every connection slot held by one slowloris: the header timeout frees them.
    let app = spawn_with(b, |s| {
        s.net.max_connections = 20;
        s.net.max_connections_per_ip = 0;
        s.net.header_timeout = Duration::from_millis(500);
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut c = tcp_from("127.0.0.2", app.addr).await;
        c.write_all(HALF_REQUEST).await.unwrap();
        slow.push(c);
    }
    let start = Instant::now();
    let health = tokio::time::timeout(Duration::from_secs(10), app.http.get(app.url("/healthz")).send())
        .await
        .expect("/healthz hung behind half-sent requests")
        .unwrap();
    assert_eq!(health.status(), 200);
    let waited = start.elapsed();
    println!("healthz answered after {waited:?} with every slot held by half-sent requests");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

async fn a_slowloris_from_one_address_is_capped_and_timed_out(b: Backend) {
    let header_timeout = Duration::from_secs(4);
    let app = spawn_with(b, |s| {
        s.net.max_connections_per_ip = 100;
        s.net.header_timeout = header_timeout;
    })
    .await;
    let start = Instant::now();
    let mut conns = Vec::new();
    for _ in 0..500 {
        let mut c = tcp_from("127.0.0.3", app.addr).await;
        let _ = c.write_all(HALF_REQUEST).await;
        conns.push(c);
    }
    // All 500 were opened before the first could time out (else slots freed meanwhile count twice).
    assert!(start.elapsed() < header_timeout, "opening took {:?}", start.elapsed());
    // Each connection ends: refused at once (429) or closed by the header timeout.
    let mut refused = 0;
    let mut timed_out = Vec::new();
    let mut ends = Vec::new();
    for mut c in conns {
        ends.push(tokio::spawn(async move {
            let (reply, _) = until_closed(&mut c, Duration::from_secs(10)).await;
            (reply, Instant::now())
        }));
    }
    for e in ends {
        let (reply, at) = e.await.unwrap();
        if reply.starts_with(b"HTTP/1.1 429") {
            refused += 1;
        } else {
            assert!(reply.is_empty(), "{:?}", String::from_utf8_lossy(&reply));
            timed_out.push(at - start);
        }
    }
    let last = timed_out.iter().max().copied().unwrap_or_default();
    println!(
        "slowloris: 500 half-sent connections from one address: {} held, {refused} refused (429); \
         the held ones closed by {last:?}",
        timed_out.len()
    );
    assert_eq!(timed_out.len(), 100, "held at most the per-address cap");
    assert_eq!(refused, 400);
    assert!(
        last >= header_timeout && last < header_timeout + Duration::from_secs(3),
        "{last:?}"
    );
    // Meanwhile other addresses were never affected.
    assert_eq!(app.get("/healthz", None).await.0, 200);
}

async fn a_user_holds_a_bounded_number_of_sockets(b: Backend) {
    let app = spawn_with(b, |s| s.socket.max_sockets_per_user = 2).await;
    let ann = agent("t1", "ann");
    let first = app.connect(&ann).await;
    let _second = app.connect(&ann).await;
    let token = app.token(&ann);
    let resp = app
        .http
        .get(app.url(&format!("/api/voip/ws?access_token={token}")))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_sockets");
    assert_eq!(app.connect_token(&token).await.err(), Some(429));
    // Another user is not affected.
    app.connect(&agent("t1", "bob")).await;
    // Closing one frees its slot.
    first.close().await;
    let deadline = Instant::now() + WAIT;
    while app.state.sockets.held("t1", "ann") > 1 {
        assert!(Instant::now() < deadline, "slot never given back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.connect(&ann).await;
}

async fn an_oversize_frame_sent_whole_always_gets_1009(b: Backend) {
    let app = spawn_app(b).await;
    let big = format!(r#"{{"type":"ping","pad":"{}"}}"#, "y".repeat(200 * 1024));
    for attempt in 0..10 {
        let token = app.token(&customer("t1", &format!("c{attempt}")));
        let url = format!("ws://{}/api/voip/ws?access_token={token}", app.addr);
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let _welcome = ws.next().await.unwrap().unwrap();
        // One frame, as a browser sends it: the server refuses it after its header.
        ws.send(Message::Text(big.clone().into())).await.unwrap();
        let mut code = None;
        while let Some(msg) = tokio::time::timeout(WAIT, ws.next()).await.expect("no close") {
            match msg {
                Ok(Message::Close(Some(f))) => {
                    code = Some(u16::from(f.code));
                    break;
                }
                Ok(_) => continue,
                Err(e) => panic!("attempt {attempt}: {e} instead of a close frame"),
            }
        }
        assert_eq!(code, Some(1009), "attempt {attempt}");
    }
}

/// A client that reads slowly: `burst` frames every `pause`, until the server closes (returns its code).
async fn read_slowly(mut ws: Ws, pause: Duration, burst: usize) -> Option<u16> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the slow reader was never dropped");
        tokio::time::sleep(pause).await;
        for _ in 0..burst {
            match ws.next_raw().await {
                Some(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Some(_) => {}
                None => return None,
            }
        }
    }
}

async fn a_slow_reader_of_presence_is_dropped_with_1008(b: Backend) {
    let app = spawn_with(b, |s| {
        s.presence_batch_window = Duration::ZERO;
        s.socket.max_lag = Duration::from_secs(1);
        s.socket.max_unread_bytes = 64 * 1024;
    })
    .await;
    let slow = app.connect(&customer("t1", "slow")).await;
    let mut fast = app.connect(&customer("t1", "fast")).await;
    let mut agent_ws = app.connect(&agent("t1", "a")).await;
    // 200 frames a second: a reader that would keep up with ordinary presence.
    let reader = tokio::spawn(read_slowly(slow, Duration::from_millis(50), 10));
    // Presence only: an agent flipping availability, far faster than 20 frames a second.
    let start = Instant::now();
    let mut n = 0u32;
    while !reader.is_finished() {
        let status = if n % 2 == 0 { "away" } else { "available" };
        agent_ws.request(json!({"type": "status.set", "status": status})).await;
        n += 1;
        if n % 50 == 0 {
            // The reading customer keeps up with the same traffic.
            assert_eq!(fast.request(json!({"type": "ping"})).await["type"], "pong");
        }
        assert!(start.elapsed() < Duration::from_secs(20), "never dropped");
    }
    let code = reader.await.unwrap();
    println!(
        "slow presence reader dropped after {:?} ({n} presence changes)",
        start.elapsed()
    );
    assert_eq!(code, Some(1008));
    assert_eq!(fast.request(json!({"type": "ping"})).await["type"], "pong");
}

async fn a_stalled_reader_gets_1008_once_it_reads_again(b: Backend) {
    // Writes to a client that stopped reading block once the kernel's buffers
    // are full; its queue then overflows. Its close frame waits behind what
    // is buffered, and arrives when it reads again.
    let app = spawn_with(b, |s| {
        s.socket.outbound_queue = 8;
        s.socket.max_unread_bytes = 1 << 30;
    })
    .await;
    let mut cw = app.connect(&customer("t1", "c")).await;
    let mut aw = app.connect(&agent("t1", "a")).await;
    let mut stalled = app.connect(&agent("t1", "a")).await;
    let ack = cw.request(json!({"type": "call.start", "calleeId": "a"})).await;
    let id = ack["call"]["id"].as_str().unwrap().to_owned();
    aw.next_of("call.incoming").await;
    let before = app.slow_consumers();
    let blob = "z".repeat(60 * 1024);
    let mut i = 0;
    while app.slow_consumers() == before {
        // While ringing, relayed data goes to every device of the callee.
        cw.send(json!({"type": "rtc.signal", "callId": id, "data": {"i": i, "blob": blob}}))
            .await;
        while aw.next_where("relay", |v| v["type"] == "rtc.signal").await["data"]["i"] != i {}
        i += 1;
        assert!(i < 2_000, "never dropped");
    }
    let mut frames = 0;
    loop {
        match stalled.next_raw().await {
            Some(Message::Close(frame)) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(1008), "after {frames} frames");
                break;
            }
            Some(_) => frames += 1,
            None => panic!("closed without 1008 after {frames} frames"),
        }
    }
    // The other device and the caller carry on.
    assert_eq!(aw.request(json!({"type": "ping"})).await["type"], "pong");
}

async fn an_expiring_token_is_warned_then_the_socket_closes_with_4001(b: Backend) {
    let app = spawn_with(b, |s| {
        s.socket.token_warning = Duration::from_secs(1);
        s.auth.leeway_secs = 0;
    })
    .await;
    let p = customer("t1", "c");
    let mut claims = claims_of(&p);
    claims.exp = Some(now_secs() + 2);
    let mut ws = app.connect_token(&app.mint(&claims)).await.unwrap();
    let warning = ws.next_of("auth.expiring").await;
    assert!(warning["closesInSecs"].as_i64().unwrap() <= 2, "{warning}");
    assert_eq!(ms_of(&warning["expiresAt"]) / 1000, claims.exp.unwrap());
    assert_eq!(ws.closed().await, Some(4001));
}

async fn auth_refresh_keeps_the_socket_and_only_for_the_same_user(b: Backend) {
    let app = spawn_with(b, |s| {
        s.socket.token_warning = Duration::from_secs(1);
        s.auth.leeway_secs = 0;
    })
    .await;
    let p = customer("t1", "c");
    let mut short = claims_of(&p);
    short.exp = Some(now_secs() + 2);
    let mut ws = app.connect_token(&app.mint(&short)).await.unwrap();
    ws.next_of("auth.expiring").await;
    // Another user's token, a bad one, and another tenant's are refused; the socket stays.
    let other = ws
        .request(json!({"type": "auth.refresh", "accessToken": app.token(&customer("t1", "someone-else"))}))
        .await;
    assert_eq!(
        (other["type"].as_str(), other["code"].as_str()),
        (Some("error"), Some("forbidden"))
    );
    let tenant = ws
        .request(json!({"type": "auth.refresh", "accessToken": app.token(&customer("t2", "c"))}))
        .await;
    assert_eq!(tenant["code"], "forbidden");
    let junk = ws
        .request(json!({"type": "auth.refresh", "accessToken": "not.a.token"}))
        .await;
    assert_eq!(junk["code"], "invalid_token");
    // The user's fresh token: acknowledged with its expiry, and the socket outlives the old one.
    let fresh = claims_of(&p);
    let ack = ws
        .request(json!({"type": "auth.refresh", "accessToken": app.mint(&fresh)}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ms_of(&ack["expiresAt"]) / 1000, fresh.exp.unwrap());
    ws.expect_no("auth.expiring", Duration::from_millis(2_500)).await;
    assert_eq!(ws.request(json!({"type": "ping"})).await["type"], "pong");
}

async fn every_error_body_is_the_documented_json(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token(&agent("t1", "a"));
    let raw = |method: &str, path: &str| {
        let req = app
            .http
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(&token);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let ctype = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let text = resp.text().await.unwrap();
            (status, ctype, text)
        }
    };
    for (method, path, status, code) in [
        ("GET", "/api/voip/calls/%ff", 400, "invalid_request"),
        ("POST", "/api/voip/calls/%ff/accept", 400, "invalid_request"),
        ("GET", "/api/voip/history?limit=abc", 400, "invalid_request"),
        ("GET", "/api/voip/history?limit=-1", 400, "invalid_request"),
        ("GET", "/api/voip/nope", 404, "not_found"),
        ("DELETE", "/api/voip/history", 405, "method_not_allowed"),
        ("PATCH", "/healthz", 405, "method_not_allowed"),
    ] {
        let (got, ctype, text) = raw(method, path).await;
        assert_eq!(got, status, "{method} {path}: {text}");
        assert!(ctype.starts_with("application/json"), "{method} {path}: {ctype} {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], code, "{method} {path}: {text}");
        let message = v["error"]["message"].as_str().unwrap();
        for internal in ["Failed to deserialize", "line 1", "column", "u32", "i64", "String`"] {
            assert!(!message.contains(internal), "{method} {path}: {message}");
        }
    }
    // Body errors name the field in plain words.
    for (body, want) in [
        (
            r#"{"calleeSupabaseId": 5}"#,
            "`calleeSupabaseId`: invalid type: integer `5`, expected a string",
        ),
        (r#"{}"#, "missing field `calleeSupabaseId`"),
        (r#"{"calleeSupabaseId": "x", "record": "yes"}"#, "`record`"),
        (r#"{"calleeSupabaseId": "#, "not valid JSON"),
        (r#"{"calleeSupabaseId": "x"} trailing"#, "not valid JSON"),
    ] {
        let resp = app
            .http
            .post(app.url("/api/voip/start-call"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let v: Value = resp.json().await.unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(want), "{body}: {message}");
        assert!(!message.contains("line 1") && !message.contains("Failed"), "{message}");
    }
    // A header the route needs, missing: JSON too.
    let resp = app
        .http
        .post(app.url("/api/voip/start-call"))
        .bearer_auth(&token)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_request");
}

async fn rate_limited_responses_say_when_to_retry(b: Backend) {
    let app = spawn_with(b, |s| {
        s.call_rate_per_minute = 1;
        s.call_rate_burst = 1;
    })
    .await;
    let c = customer("t1", "c");
    let token = app.token(&c);
    let _agent = app.connect(&agent("t1", "a")).await;
    let (first, _) = app
        .post("/api/voip/start-call", Some(&token), json!({"calleeSupabaseId": "a"}))
        .await;
    assert_eq!(first, 200);
    let resp = app
        .http
        .post(app.url("/api/voip/start-call"))
        .bearer_auth(&token)
        .json(&json!({"calleeSupabaseId": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limited");
    // The socket says it too.
    let mut ws = app.connect(&c).await;
    let err = ws.request(json!({"type": "call.start", "calleeId": "a"})).await;
    assert_eq!(err["code"], "rate_limited");
    assert!(err["retryAfterSecs"].as_u64().unwrap() >= 1, "{err}");
}

crate::on_both_backends!(
    a_half_sent_request_is_closed_after_the_header_timeout,
    an_idle_keep_alive_connection_is_closed,
    one_address_cannot_hold_every_connection,
    half_sent_requests_at_the_global_cap_do_not_starve_healthz,
    a_slowloris_from_one_address_is_capped_and_timed_out,
    a_user_holds_a_bounded_number_of_sockets,
    an_oversize_frame_sent_whole_always_gets_1009,
    a_slow_reader_of_presence_is_dropped_with_1008,
    a_stalled_reader_gets_1008_once_it_reads_again,
    an_expiring_token_is_warned_then_the_socket_closes_with_4001,
    auth_refresh_keeps_the_socket_and_only_for_the_same_user,
    every_error_body_is_the_documented_json,
    rate_limited_responses_say_when_to_retry,
);
