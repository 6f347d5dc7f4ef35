//! Requests from one node to another through Redis (media signaling for a room another node holds), with their replies.
//!
//! A request goes on the target member's channel with an id and the
//! sender's member; the reply comes back on the sender's channel. A
//! request that gets no reply in `RPC_TIMEOUT` fails with
//! `cluster_unavailable`, as does one made while this node is cut off.
//! Errors cross as their stable code and public message; a server fault
//! crosses as `internal_error` only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use super::RedisNode;
use super::wire::{self, Header};
use crate::error::{Error, ErrorCode, Result};

/// How long a request to another node may wait for its reply.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves requests from other nodes.
pub trait RpcHandler: Send + Sync + 'static {
    /// Answers `body` (one line of JSON) with one line, or an error.
    fn handle(&self, body: String) -> BoxFuture<'static, Result<String>>;
}

/// Requests in flight and the handler of incoming ones.
#[derive(Default)]
pub struct Rpc {
    next: AtomicU64,
    pending: DashMap<u64, oneshot::Sender<Result<String>>>,
    handler: std::sync::OnceLock<Arc<dyn RpcHandler>>,
}

/// The error a reply carried.
fn error_of(code: &str, message: &str) -> Error {
    match ErrorCode::ALL.iter().find(|c| c.as_str() == code) {
        Some(c) if !c.status().is_server_error() || *c == ErrorCode::ClusterUnavailable => {
            Error::new(*c, message.to_owned())
        }
        Some(ErrorCode::Unavailable) => Error::new(ErrorCode::Unavailable, message.to_owned()),
        _ => Error::Internal(anyhow::anyhow!("another node failed: {code}")),
    }
}

fn unavailable(why: &'static str) -> Error {
    Error::new(ErrorCode::ClusterUnavailable, why).retry_after(1)
}

impl Rpc {
    /// Handles messages of kinds `rq` and `rs`.
    pub fn message(&self, node: &RedisNode, h: &Header<'_>, rest: &str) {
        match &*h.k {
            "rs" => {
                let Some(id) = h.id else { return };
                let Some((_, tx)) = self.pending.remove(&id) else {
                    return;
                };
                let reply = if h.ok == Some(true) {
                    Ok(rest.to_owned())
                } else {
                    let (code, msg) = rest.split_once('\n').unwrap_or((rest, ""));
                    Err(error_of(code, msg))
                };
                let _ = tx.send(reply);
            }
            "rq" => {
                let (Some(id), Some(from), Some(handler)) =
                    (h.id, h.o.as_deref().map(str::to_owned), self.handler.get().cloned())
                else {
                    return;
                };
                let link = node.link.clone();
                let body = rest.to_owned();
                tracing::debug!(id, from = %from, "request from another node");
                tokio::spawn(async move {
                    let result = handler.handle(body).await;
                    tracing::debug!(id, ok = result.is_ok(), error = ?result.as_ref().err(), "request served");
                    let me = link.member();
                    let (ok, lines) = match &result {
                        Ok(answer) => (true, vec![answer.clone()]),
                        Err(e) => {
                            e.log_if_internal();
                            (
                                false,
                                vec![e.code().as_str().to_owned(), e.public_message().replace('\n', " ")],
                            )
                        }
                    };
                    let header = Header {
                        k: "rs".into(),
                        o: Some((&*me).into()),
                        id: Some(id),
                        ok: Some(ok),
                        ..Header::default()
                    };
                    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
                    link.publish(link.keys.node_channel(&from), wire::encode(&header, &refs));
                });
            }
            _ => {}
        }
    }
}

impl RedisNode {
    /// Sets the handler of requests from other nodes (once).
    pub fn serve_requests(&self, handler: Arc<dyn RpcHandler>) {
        let _ = self.rpc.handler.set(handler);
    }

    /// Sends `body` (one line) to `member` and waits for its answer.
    pub async fn request(&self, member: &str, body: &str) -> Result<String> {
        if !self.available() {
            return Err(unavailable("this node cannot reach the other nodes now; retry"));
        }
        let id = self.rpc.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.rpc.pending.insert(id, tx);
        let me = self.member();
        let header = Header {
            k: "rq".into(),
            o: Some((&*me).into()),
            id: Some(id),
            ..Header::default()
        };
        self.link
            .publish(self.link.keys.node_channel(member), wire::encode(&header, &[body]));
        tracing::debug!(id, to = member, "request to another node");
        let reply = tokio::time::timeout(RPC_TIMEOUT, rx).await;
        self.rpc.pending.remove(&id);
        match reply {
            Ok(Ok(r)) => r,
            _ => Err(unavailable("the node holding this call's media did not answer; retry")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_cross_with_their_code_and_faults_do_not() {
        let e = error_of("call_ended", "the call has ended");
        assert_eq!(e.code(), ErrorCode::CallEnded);
        assert_eq!(e.public_message(), "the call has ended");
        assert_eq!(
            error_of("cluster_unavailable", "x").code(),
            ErrorCode::ClusterUnavailable
        );
        assert_eq!(error_of("internal_error", "secret").code(), ErrorCode::Internal);
        assert_eq!(
            error_of("internal_error", "secret").public_message(),
            "internal server error"
        );
        assert_eq!(error_of("no_such_code", "x").code(), ErrorCode::Internal);
    }
}
