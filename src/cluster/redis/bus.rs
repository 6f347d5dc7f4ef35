//! The shared bus: an envelope goes to this node's sockets at once and, through Redis, to every other node that holds its user (or tenant).
//!
//! A user's frames go on the user's channel, which exactly the nodes holding
//! a socket of that user subscribe to: no lookup of where the user is, so no
//! lookup-then-publish race. A tenant's frames go on the cluster channel.
//! Each frame is serialized once, here; receivers write the bytes as they
//! came. This node skips its own messages (it delivered them already).

use std::sync::Arc;

use super::link::Link;
use super::wire::{self, Header};
use crate::cluster::{Bus, Envelope, LocalDelivery, Outbound, Target};

/// The bus of a node in cluster mode.
pub struct RedisBus {
    link: Arc<Link>,
    sockets: Arc<dyn LocalDelivery>,
}

impl RedisBus {
    pub fn new(link: Arc<Link>, sockets: Arc<dyn LocalDelivery>) -> Self {
        Self { link, sockets }
    }
}

fn lines(frame: &Outbound) -> Vec<&str> {
    frame.frames().iter().map(|f| f.as_str()).collect()
}

impl Bus for RedisBus {
    fn publish(&self, e: Envelope) -> usize {
        let me = self.link.member();
        let (local, channel, header) = match &e.target {
            Target::User { user_id, except } => (
                self.sockets.deliver_user(&e.tenant_id, user_id, *except, &e.frame),
                self.link.keys.user_channel(&e.tenant_id, user_id),
                Header {
                    k: "u".into(),
                    u: Some((&**user_id).into()),
                    x: *except,
                    ..Header::default()
                },
            ),
            // Across nodes, "one session" is that session wherever it is: a
            // node falls back to the user's other sessions only for a
            // session it no longer holds and no other node does either,
            // which it cannot know; so here both targets mean that session.
            Target::Session { user_id, session } | Target::SessionOnly { user_id, session } => {
                let n = self.sockets.deliver_session(&e.tenant_id, user_id, *session, &e.frame);
                if n > 0 {
                    // The session is here: nobody else holds it.
                    return n;
                }
                (
                    0,
                    self.link.keys.user_channel(&e.tenant_id, user_id),
                    Header {
                        k: "u".into(),
                        u: Some((&**user_id).into()),
                        s: Some(*session),
                        only: true,
                        ..Header::default()
                    },
                )
            }
            Target::Tenant => (
                self.sockets.broadcast(&e.tenant_id, &e.frame),
                self.link.keys.cluster_channel(),
                Header {
                    k: "t".into(),
                    ..Header::default()
                },
            ),
            Target::Admins => (
                self.sockets.broadcast_admins(&e.tenant_id, &e.frame),
                self.link.keys.cluster_channel(),
                Header {
                    k: "a".into(),
                    ..Header::default()
                },
            ),
        };
        let header = Header {
            o: Some((&*me).into()),
            t: Some((&*e.tenant_id).into()),
            ..header
        };
        self.link.publish(channel, wire::encode(&header, &lines(&e.frame)));
        local
    }
}

/// Delivers a frame message from another node to this node's sockets.
pub fn deliver(sockets: &dyn LocalDelivery, header: &Header, rest: &str) -> usize {
    let Some(tenant) = header.t.as_deref() else { return 0 };
    let frames: Vec<axum::extract::ws::Utf8Bytes> = wire::frames(rest).map(Into::into).collect();
    let frame = match frames.len() {
        0 => return 0,
        1 => Outbound::One(frames.into_iter().next().unwrap_or_default()),
        _ => Outbound::Batch(frames.into()),
    };
    match (&*header.k, header.u.as_deref()) {
        ("t", _) => sockets.broadcast(tenant, &frame),
        ("a", _) => sockets.broadcast_admins(tenant, &frame),
        ("u", Some(user)) => match header.s {
            Some(session) => sockets.deliver_session(tenant, user, session, &frame),
            None => sockets.deliver_user(tenant, user, header.x, &frame),
        },
        _ => 0,
    }
}
