//! A local webhook receiver for the tests: it records each request's Standard Webhooks headers and body, and can answer `503` for a while.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use tokio::sync::Notify;

/// What the receiver got.
#[derive(Clone, Debug)]
pub struct Hit {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: String,
}

/// A receiver that answers `503` while `down` is above zero (and counts it down), else `204`.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    down: Arc<Mutex<i64>>,
    arrived: Arc<Notify>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let r = Receiver {
            url: String::new(),
            hits: Arc::default(),
            down: Arc::default(),
            arrived: Arc::default(),
        };
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let s = state.clone();
                async move {
                    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    let hit = Hit {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp").parse().unwrap_or(0),
                        signature: h("webhook-signature"),
                        body,
                    };
                    s.hits.lock().unwrap().push(hit);
                    s.arrived.notify_waiters();
                    let mut down = s.down.lock().unwrap();
                    if *down > 0 {
                        *down -= 1;
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::NO_CONTENT
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, ..r }
    }

    pub fn fail_next(&self, n: i64) {
        *self.down.lock().unwrap() = n;
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits (on arrivals, up to 20 s) until at least `n` requests came.
    pub async fn wait_for(&self, n: usize) -> Vec<Hit> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let arrived = self.arrived.notified();
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("{} of {n} webhook requests arrived: {hits:?}", hits.len());
            }
        }
    }
}
