//! One look at the outbox: due messages claimed one by one (a lease per row), sent signed, logged, and marked delivered or due again.

use std::time::Instant;

use futures_util::StreamExt;

use super::Outbox;
use crate::clock::now_ms;
use crate::store::{Attempt, OutboxRow};
use crate::webhook::schedule::next_wait;
use crate::webhook::signature::{key_of, sign};

/// Most characters of a failure kept in the log.
const ERROR_TEXT_MAX: usize = 300;

impl Outbox {
    /// Sends what is due now.
    pub(super) async fn deliver_due(&self) {
        let now = now_ms();
        let due = match self.store.due_messages(now, self.settings.batch).await {
            Ok(d) => d,
            Err(e) => {
                e.log_if_internal();
                return;
            }
        };
        futures_util::stream::iter(due)
            .for_each_concurrent(self.settings.concurrency, |row| async move {
                let now = now_ms();
                let until = now + self.settings.lease.as_millis() as i64;
                match self.store.claim_message(&row, &self.owner, now, until).await {
                    Ok(true) => {
                        if let Err(e) = self.attempt(&row).await {
                            e.log_if_internal();
                        }
                    }
                    Ok(false) => {}
                    Err(e) => e.log_if_internal(),
                }
            })
            .await;
    }

    /// One attempt of a claimed message.
    async fn attempt(&self, row: &OutboxRow) -> crate::error::Result<()> {
        let attempts = row.attempts + 1;
        let Some(endpoint) = self.store.endpoint(&row.endpoint_id).await? else {
            return self.store.mark_retry(row, &self.owner, attempts, None).await;
        };
        let started = Instant::now();
        let at = now_ms();
        let outcome = match key_of(&endpoint.secret) {
            Err(_) => Err("the endpoint's secret is malformed".to_owned()),
            Ok(key) => {
                let timestamp = at / 1000;
                let signature = sign(&key, &row.msg_id, timestamp, row.payload.as_bytes());
                self.http
                    .post(&endpoint.url)
                    .header("content-type", "application/json")
                    .header("user-agent", concat!("switchboard/", env!("CARGO_PKG_VERSION")))
                    .header("webhook-id", &row.msg_id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", signature)
                    .body(row.payload.clone())
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .map_err(|e| {
                        let text = if e.is_timeout() {
                            "timed out".to_owned()
                        } else if e.is_connect() {
                            "could not connect".to_owned()
                        } else {
                            e.to_string()
                        };
                        text.chars().take(ERROR_TEXT_MAX).collect()
                    })
            }
        };
        let (status, error) = match &outcome {
            Ok(s) => (
                Some(i64::from(*s)),
                (!(200..300).contains(s)).then(|| format!("answered {s}")),
            ),
            Err(e) => (None, Some(e.clone())),
        };
        self.store
            .log_attempt(&Attempt {
                msg_id: row.msg_id.clone(),
                endpoint_id: row.endpoint_id.clone(),
                attempt: attempts,
                at,
                status_code: status,
                error: error.clone(),
                duration_ms: started.elapsed().as_millis() as i64,
            })
            .await?;
        if error.is_none() {
            return self.store.mark_delivered(row, &self.owner, attempts, now_ms()).await;
        }
        let next = next_wait(&self.settings.schedule, attempts as u32).map(|w| now_ms() + w.as_millis() as i64);
        if next.is_none() {
            tracing::warn!(endpoint = %row.endpoint_id, msg = %row.msg_id, attempts, "webhook given up");
        }
        self.store.mark_retry(row, &self.owner, attempts, next).await
    }
}
