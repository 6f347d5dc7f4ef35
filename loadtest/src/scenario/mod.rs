//! The scenarios, and the small socket and HTTP helpers they share.

pub mod calls;
pub mod connections;
pub mod media;
pub mod relay;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use crate::auth::Minter;
use crate::net::{Dialer, Ws};

/// Longest wait for one expected frame during set-up.
pub const SETUP_WAIT: Duration = Duration::from_secs(30);

/// Reads frames until one of `ty` arrives; returns it.
pub async fn wait_for_type(ws: &mut Ws, ty: &str) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + SETUP_WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| anyhow::anyhow!("timed out waiting for {ty}"))?;
        match msg {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t)?;
                if v["type"] == ty {
                    return Ok(v);
                }
                if v["type"] == "error" || v["type"] == "ERROR" || v["type"] == "ID-TAKEN" {
                    anyhow::bail!("server error while waiting for {ty}: {v}");
                }
            }
            Some(Ok(Message::Close(f))) => anyhow::bail!("closed while waiting for {ty}: {f:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("closed while waiting for {ty}"),
        }
    }
}

/// Opens a signaling socket as `user` of `tenant` (an agent if `agent`) on the next node and waits for its `welcome`.
pub async fn connect_user(
    dialer: &Dialer,
    minter: &Minter,
    tenant: &str,
    user: &str,
    agent: bool,
) -> anyhow::Result<Ws> {
    let node = dialer.next_node();
    connect_user_on(dialer, node, minter, tenant, user, agent).await
}

/// As `connect_user`, on node `node` (modulo the nodes given).
pub async fn connect_user_on(
    dialer: &Dialer,
    node: usize,
    minter: &Minter,
    tenant: &str,
    user: &str,
    agent: bool,
) -> anyhow::Result<Ws> {
    let token = minter.token(tenant, user, agent)?;
    let mut ws = dialer
        .websocket_on(node, &format!("/api/voip/ws?access_token={token}"))
        .await?;
    wait_for_type(&mut ws, "welcome").await?;
    Ok(ws)
}

/// Sends one JSON frame.
pub async fn send_json(ws: &mut Ws, v: &Value) -> anyhow::Result<()> {
    ws.send(Message::Text(v.to_string().into())).await?;
    Ok(())
}

/// The customer calls `callee_id` and the agent accepts: start → `ack` → `call.incoming` → accept → `ack`.
/// Returns the call id.
pub async fn establish_call(customer: &mut Ws, agent: &mut Ws, callee_id: &str) -> anyhow::Result<String> {
    send_json(
        customer,
        &json!({"type": "call.start", "calleeId": callee_id, "ref": "start"}),
    )
    .await?;
    let ack = wait_for_type(customer, "ack").await?;
    let id = ack["call"]["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("call.start failed: {ack}"))?
        .to_owned();
    wait_for_type(agent, "call.incoming").await?;
    send_json(agent, &json!({"type": "call.accept", "callId": id, "ref": "accept"})).await?;
    wait_for_type(agent, "ack").await?;
    Ok(id)
}

/// `GET path` over plain HTTP/1.0; the body.
pub async fn http_get(server: SocketAddr, path: &str) -> anyhow::Result<String> {
    http_get_as(server, path, None).await
}

/// `GET path` with a bearer token, if given; the body.
pub async fn http_get_as(server: SocketAddr, path: &str, token: Option<&str>) -> anyhow::Result<String> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(server)).await??;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {server}\r\n{auth}\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf);
    Ok(text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default())
}

/// One unlabelled sample of the server's /metrics, if it answers.
pub async fn metric(server: SocketAddr, name: &str) -> Option<f64> {
    let body = http_get(server, "/metrics").await.ok()?;
    body.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}
