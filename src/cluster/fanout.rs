//! Presence fan-out: an agent's status changes reach their tenant in short per-tenant batches.
//!
//! Every change of an agent's visible status goes to every session of the
//! tenant. Sent one by one, a busy tenant costs one wake-up and one write per
//! session per change. Gathered for a short window, each session takes the
//! whole batch as one queued item (one wake-up, one flush, one slot of its
//! bounded queue, however many agents changed); an agent that flips and
//! flips back inside the window (available → busy → available) sends nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use super::{Bus, Envelope, Outbound, Target};
use crate::presence::{PresenceChange, PresenceStatus};
use crate::wire::views::{AgentView, ServerMsg};

/// How long a tenant's presence changes are gathered before they are sent.
pub const PRESENCE_BATCH_WINDOW: Duration = Duration::from_millis(100);

/// One agent's pending change: the status others last saw, and the newest.
struct Pending {
    before: PresenceStatus,
    latest: AgentView,
}

/// Batches presence changes per tenant.
pub struct PresenceFanout {
    bus: Arc<dyn Bus>,
    window: Duration,
    /// Tenant → agent id → pending change. A tenant is present while a flush is scheduled.
    pending: DashMap<Arc<str>, HashMap<String, Pending>>,
}

impl PresenceFanout {
    pub fn new(bus: Arc<dyn Bus>, window: Duration) -> Arc<Self> {
        Arc::new(Self {
            bus,
            window,
            pending: DashMap::new(),
        })
    }

    /// Queues a change; the tenant's batch goes out `window` after its first change.
    pub fn publish(self: &Arc<Self>, change: Option<PresenceChange>) {
        let Some(c) = change else { return };
        if self.window.is_zero() {
            self.send(&c.tenant_id, std::iter::once(&c.agent));
            return;
        }
        let mut schedule = false;
        {
            let mut tenant = self.pending.entry(c.tenant_id.clone()).or_insert_with(|| {
                schedule = true;
                HashMap::new()
            });
            match tenant.get_mut(&c.agent.supabase_user_id) {
                Some(p) => p.latest = c.agent,
                None => {
                    tenant.insert(
                        c.agent.supabase_user_id.clone(),
                        Pending {
                            before: c.before,
                            latest: c.agent,
                        },
                    );
                }
            }
        }
        if schedule {
            let me = self.clone();
            let tenant = c.tenant_id;
            tokio::spawn(async move {
                tokio::time::sleep(me.window).await;
                me.flush(&tenant);
            });
        }
    }

    /// Sends a tenant's pending changes now.
    pub fn flush(&self, tenant: &Arc<str>) {
        let Some((_, changes)) = self.pending.remove(tenant) else {
            return;
        };
        let visible = changes
            .values()
            .filter(|p| p.latest.status != p.before.as_str())
            .map(|p| &p.latest);
        self.send(tenant, visible);
    }

    /// Publishes the changes as one queued item per session.
    fn send<'a>(&self, tenant: &Arc<str>, agents: impl Iterator<Item = &'a AgentView>) {
        let mut frames: Vec<_> = agents.map(|a| ServerMsg::Presence(a).to_text().into()).collect();
        let frame = match frames.len() {
            0 => return,
            1 => Outbound::One(frames.remove(0)),
            _ => Outbound::Batch(frames.into()),
        };
        self.bus.publish(Envelope {
            tenant_id: tenant.clone(),
            target: Target::Tenant,
            frame,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    /// Every frame published, with its tenant; and how many envelopes carried them.
    #[derive(Default)]
    struct Capture(Mutex<Vec<(String, String)>>, std::sync::atomic::AtomicUsize);

    impl Bus for Capture {
        fn publish(&self, e: Envelope) -> usize {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut sent = self.0.lock();
            for f in e.frame.frames() {
                sent.push((e.tenant_id.to_string(), f.as_str().to_owned()));
            }
            1
        }
    }

    fn change(tenant: &str, user: &str, before: PresenceStatus, after: PresenceStatus) -> Option<PresenceChange> {
        Some(PresenceChange {
            tenant_id: tenant.into(),
            before,
            agent: AgentView {
                supabase_user_id: user.into(),
                first_name: None,
                last_name: None,
                email: None,
                role: None,
                status: after.as_str(),
            },
        })
    }

    #[tokio::test(start_paused = true)]
    async fn batches_per_tenant_and_drops_flaps() {
        use PresenceStatus::*;
        let bus = Arc::new(Capture::default());
        let f = PresenceFanout::new(bus.clone(), Duration::from_millis(100));
        f.publish(change("t1", "a", Available, Busy));
        f.publish(change("t1", "b", Offline, Available));
        f.publish(change("t1", "a", Busy, Available)); // flap: a is back where it was
        f.publish(change("t2", "c", Available, Away));
        assert!(bus.0.lock().is_empty(), "nothing before the window ends");
        tokio::time::sleep(Duration::from_millis(150)).await;
        let sent = bus.0.lock().clone();
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert!(
            sent.iter()
                .any(|(t, f)| t == "t1" && f.contains("\"b\"") && f.contains("available"))
        );
        assert!(sent.iter().any(|(t, f)| t == "t2" && f.contains("away")));
        assert!(!sent.iter().any(|(_, f)| f.contains("\"a\"")));
        // The next change starts a new batch.
        f.publish(change("t1", "a", Available, Offline));
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(bus.0.lock().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_tenant_batch_is_one_queued_item_however_many_agents_changed() {
        let bus = Arc::new(Capture::default());
        let f = PresenceFanout::new(bus.clone(), Duration::from_millis(100));
        let agents = 1000;
        for i in 0..agents {
            f.publish(change(
                "t",
                &format!("a{i}"),
                PresenceStatus::Offline,
                PresenceStatus::Available,
            ));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(bus.0.lock().len(), agents, "one frame per agent");
        assert_eq!(
            bus.1.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "in one envelope: one slot of each session's queue"
        );
    }

    #[tokio::test]
    async fn a_zero_window_sends_at_once() {
        let bus = Arc::new(Capture::default());
        let f = PresenceFanout::new(bus.clone(), Duration::ZERO);
        f.publish(change("t", "a", PresenceStatus::Offline, PresenceStatus::Available));
        assert_eq!(bus.0.lock().len(), 1);
    }
}
