//! Presence across nodes: sessions counted per member in one Redis hash per user, changed by one script that also broadcasts the new state.
//!
//! The hash `p:<tenant>:<user>` holds `n:<member>` (sessions on that member),
//! `id` (the newest token's profile), `a` (away) and `c` (in a call). The
//! script changes it, takes a version from one counter, and publishes the
//! whole state to every node in the same step, so every replica sees the
//! states in the order they were made. "The user's last session closed"
//! is the script's answer: the last one anywhere. Queries answer from the
//! replica. When Redis cannot be reached, opening and closing still work
//! from this node's own counts (the node is then on its own), and a resync
//! writes them back when Redis returns.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use dashmap::DashMap;
use futures_util::future::BoxFuture;
use smallvec::SmallVec;

use super::fields::{FIELD_QUEUE, FieldWrite, field_writer};
use super::link::Link;
use super::replica::{Applied, Replica, profile_of};
use super::subscriber::Subscriptions;
use super::wire::{self, Header, UserState};
use crate::auth::claims::Identity;
use crate::clock::now_ms;
use crate::model::SessionId;
use crate::presence::{Presence, PresenceChange, PresenceStatus, SessionChange, change};
use crate::wire::protocol::Availability;
use crate::wire::views::AgentView;

/// A presence hash (and a member's user set) expires this long after its last refresh (ms).
pub const SESSION_TTL_MS: i64 = 30_000;

/// The one presence script. KEYS: the user's hash, the member's user set,
/// the cluster channel, the version counter, the member's `reaped` mark
/// (a reaped member's writes are refused, except the reaper's `x`). ARGV: op, member, arg1, arg2,
/// profile ('' keeps it), the set's member string, ttl ms, tenant, user.
/// Ops: `d` add arg1 to the member's count; `x` drop the member; `s` set
/// the member's count to arg1; `f` set field arg1 to arg2 (only while the
/// user is online).
const STATE_SCRIPT: &str = r#"
local key, f, op = KEYS[1], 'n:' .. ARGV[2], ARGV[1]
if op ~= 'x' and redis.call('EXISTS', KEYS[5]) == 1 then return false end
if op == 'f' then
  if redis.call('EXISTS', key) == 0 then return false end
  redis.call('HSET', key, ARGV[3], ARGV[4])
else
  if op == 'd' then
    local n = redis.call('HINCRBY', key, f, ARGV[3])
    if n <= 0 then redis.call('HDEL', key, f) end
  elseif op == 'x' then
    redis.call('HDEL', key, f)
  elseif op == 's' then
    if tonumber(ARGV[3]) > 0 then redis.call('HSET', key, f, ARGV[3]) else redis.call('HDEL', key, f) end
  end
  if redis.call('HEXISTS', key, f) == 1 then
    redis.call('SADD', KEYS[2], ARGV[6])
    redis.call('PEXPIRE', KEYS[2], ARGV[7])
  else
    redis.call('SREM', KEYS[2], ARGV[6])
  end
end
if ARGV[5] ~= '' then redis.call('HSET', key, 'id', ARGV[5]) end
local v = redis.call('INCR', KEYS[4])
local h = redis.call('HGETALL', key)
local online = false
for i = 1, #h, 2 do
  if string.sub(h[i], 1, 2) == 'n:' then online = true break end
end
local msg
if online then
  redis.call('PEXPIRE', key, ARGV[7])
  msg = cjson.encode({k = 'p', t = ARGV[8], u = ARGV[9], v = v, h = h})
else
  redis.call('DEL', key)
  msg = cjson.encode({k = 'p', t = ARGV[8], u = ARGV[9], v = v})
end
redis.call('PUBLISH', KEYS[3], msg)
return msg
"#;

/// This node's sessions of one user.
struct Mine {
    identity: Arc<Identity>,
    sessions: SmallVec<[SessionId; 2]>,
}

/// Presence when several nodes share Redis.
pub struct RedisPresence {
    pub(super) link: Arc<Link>,
    pub(super) script: redis::Script,
    pub(super) replica: Replica,
    /// This node's sessions, by `tenant\nuser`: what a resync writes back.
    mine: DashMap<String, Mine>,
    subs: Subscriptions,
    /// Availability and in-call writes, in order, for the writer task.
    fields: flume::Sender<FieldWrite>,
}

/// A user who went offline everywhere because the member holding them died.
#[derive(Debug, Clone)]
pub struct LostUser {
    pub identity: Arc<Identity>,
    pub presence: Option<PresenceChange>,
}

impl RedisPresence {
    pub fn new(link: Arc<Link>, subs: Subscriptions) -> Arc<Self> {
        let (tx, rx) = flume::bounded::<FieldWrite>(FIELD_QUEUE);
        let this = Arc::new(Self {
            link,
            script: redis::Script::new(STATE_SCRIPT),
            replica: Replica::default(),
            mine: DashMap::new(),
            subs,
            fields: tx,
        });
        tokio::spawn(field_writer(Arc::downgrade(&this), rx));
        this
    }

    /// The script's invocation for `(tenant, user)`.
    pub(super) fn invocation(
        &self,
        op: &str,
        tenant: &str,
        user: &str,
        member: &str,
        args: (&str, &str),
        profile: &str,
    ) -> redis::ScriptInvocation<'_> {
        let keys = &self.link.keys;
        let mut inv = self.script.prepare_invoke();
        inv.key(keys.presence_key(tenant, user))
            .key(keys.member_users(member))
            .key(keys.cluster_channel())
            .key(keys.presence_version())
            .key(keys.reaped(member))
            .arg(op)
            .arg(member)
            .arg(args.0)
            .arg(args.1)
            .arg(profile)
            .arg(wire::user_member(tenant, user))
            .arg(SESSION_TTL_MS)
            .arg(tenant)
            .arg(user);
        inv
    }

    /// Runs a script invocation; returns the state it published.
    async fn run(&self, inv: redis::ScriptInvocation<'_>) -> redis::RedisResult<Option<String>> {
        let mut conn = self.link.cmd();
        inv.invoke_async(&mut conn).await
    }

    /// Applies a published state (from the script's reply or the cluster channel).
    pub fn apply_message(&self, header: &Header, known: Option<&Arc<Identity>>) -> Option<(Arc<str>, Applied)> {
        let (t, u, v) = (header.t.as_deref()?, header.u.as_deref()?, header.v?);
        let state = header.h.as_deref().map(UserState::from_hash);
        let applied = self.replica.apply(t, u, v, state, known, now_ms())?;
        Some((Arc::from(t), applied))
    }

    /// Applies a script's reply; returns the status it states, from `before`.
    /// (Not what the replica changed: this node's subscriber may have applied
    /// the same state already, from the broadcast.)
    fn apply_reply(&self, reply: &str, known: &Arc<Identity>, before: PresenceStatus) -> Option<Applied> {
        let (h, _) = wire::decode(reply)?;
        let state = h.h.as_deref().map(UserState::from_hash).unwrap_or_default();
        self.apply_message(&h, Some(known));
        Some(Applied {
            before,
            after: status_of_state(&state),
            identity: known.clone(),
        })
    }

    /// A user whose state this node changed on its own (Redis unreachable).
    fn local_count(&self, identity: &Arc<Identity>, member: &str, delta: i64) -> Option<Applied> {
        let m: Arc<str> = member.into();
        self.replica.edit(
            &identity.tenant_id,
            &identity.user_id,
            Some(identity),
            |e| {
                let mut n = i64::from(e.sessions_on(member)) + delta;
                n = n.max(0);
                e.members.retain(|(x, _)| **x != *member);
                if n > 0 {
                    e.members.push((m, n as u32));
                }
                e.identity = identity.clone();
            },
            now_ms(),
        )
    }

    /// Queues a field write (`a` or `c`); the script publishes the result.
    fn write_field(&self, tenant: &str, user: &str, field: &'static str, value: &'static str) {
        let w = FieldWrite {
            tenant: tenant.to_owned(),
            user: user.to_owned(),
            field,
            value,
        };
        if self.fields.try_send(w).is_err() {
            self.link.health.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Removes a dead member's sessions everywhere; returns the users now offline everywhere.
    pub async fn reap(&self, member: &str, users: Vec<(String, String)>) -> Vec<LostUser> {
        let mut lost = Vec::new();
        for (tenant, user) in users {
            let held = self.replica.get(&tenant, &user);
            let before = held.as_ref().map_or(PresenceStatus::Offline, |e| e.status());
            let Ok(Some(reply)) = self
                .run(self.invocation("x", &tenant, &user, member, ("", ""), ""))
                .await
            else {
                continue;
            };
            let Some(known) = held.map(|e| e.identity) else {
                if let Some((h, _)) = wire::decode(&reply) {
                    self.apply_message(&h, None);
                }
                continue;
            };
            if let Some(a) = self.apply_reply(&reply, &known, before)
                && a.after == PresenceStatus::Offline
                && a.before != PresenceStatus::Offline
            {
                lost.push(LostUser {
                    presence: change(&a.identity, a.before, a.after),
                    identity: a.identity,
                });
            }
        }
        lost
    }

    /// Writes this node's sessions back (after Redis returned or restarted),
    /// then reloads the replica from Redis. Returns the users whose status changed.
    pub async fn resync(&self) -> redis::RedisResult<Vec<(Arc<str>, Applied)>> {
        let me = self.link.member();
        let mine: Vec<(Arc<Identity>, usize)> = self
            .mine
            .iter()
            .map(|m| (m.identity.clone(), m.sessions.len()))
            .collect();
        for (id, n) in mine {
            let profile = serde_json::to_string(&profile_of(&id)).unwrap_or_default();
            let held = self.replica.get(&id.tenant_id, &id.user_id);
            self.run(self.invocation("s", &id.tenant_id, &id.user_id, &me, (&n.to_string(), ""), &profile))
                .await?;
            if let Some(e) = held {
                let (a, c) = (
                    if e.away { "away" } else { "available" },
                    if e.in_call { "1" } else { "0" },
                );
                self.run(self.invocation("f", &id.tenant_id, &id.user_id, &me, ("a", a), ""))
                    .await?;
                self.run(self.invocation("f", &id.tenant_id, &id.user_id, &me, ("c", c), ""))
                    .await?;
            }
            self.subs
                .subscribe(self.link.keys.user_channel(&id.tenant_id, &id.user_id))
                .await;
        }
        let mut conn = self.link.cmd();
        let version: i64 = redis::cmd("INCR")
            .arg(self.link.keys.presence_version())
            .query_async(&mut conn)
            .await?;
        let mut users = Vec::new();
        let prefix = format!("{}:p:", self.link.keys.prefix());
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(self.link.keys.presence_pattern())
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            let mut pipe = redis::pipe();
            for k in &keys {
                pipe.hgetall(k);
            }
            let hashes: Vec<Vec<String>> = pipe.query_async(&mut conn).await?;
            for (k, h) in keys.iter().zip(hashes) {
                if let Some((t, u)) = parse_presence_key(&k[prefix.len()..]) {
                    users.push((t.to_owned(), u.to_owned(), UserState::from_hash(&h)));
                }
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        Ok(self.replica.reload(users, version, now_ms()))
    }

    /// Refreshes the TTL of this node's hashes and its user set.
    pub async fn refresh(&self) -> redis::RedisResult<()> {
        let keys = &self.link.keys;
        let mut pipe = redis::pipe();
        for m in self.mine.iter() {
            pipe.pexpire(
                keys.presence_key(&m.identity.tenant_id, &m.identity.user_id),
                SESSION_TTL_MS,
            )
            .ignore();
        }
        pipe.pexpire(keys.member_users(&self.link.member()), SESSION_TTL_MS)
            .ignore();
        let mut conn = self.link.cmd();
        pipe.query_async::<()>(&mut conn).await
    }

    /// Forgets this node's sessions without writing anything (the node was
    /// declared dead and its sessions already reaped by a survivor).
    pub fn forget_mine(&self) {
        for m in self.mine.iter() {
            self.subs
                .unsubscribe(self.link.keys.user_channel(&m.identity.tenant_id, &m.identity.user_id));
        }
        self.mine.clear();
    }

    pub fn prune(&self) {
        self.replica.prune(now_ms());
    }

    /// Whether this node holds a session of the user.
    pub fn is_local(&self, tenant: &str, user: &str) -> bool {
        self.mine.contains_key(&wire::user_member(tenant, user))
    }
}

/// The status a published state gives.
fn status_of_state(s: &UserState) -> PresenceStatus {
    super::replica::status_from(s.online(), s.in_call, s.away)
}

/// `len:tenant:user` back into its parts.
fn parse_presence_key(s: &str) -> Option<(&str, &str)> {
    let (len, rest) = s.split_once(':')?;
    let len: usize = len.parse().ok()?;
    let tenant = rest.get(..len)?;
    let user = rest.get(len..)?.strip_prefix(':')?;
    Some((tenant, user))
}

impl Presence for RedisPresence {
    fn session_opened<'a>(&'a self, identity: &'a Arc<Identity>, session: SessionId) -> BoxFuture<'a, PresenceStatus> {
        Box::pin(async move {
            let key = wire::user_member(&identity.tenant_id, &identity.user_id);
            let first = {
                let mut m = self.mine.entry(key).or_insert_with(|| Mine {
                    identity: identity.clone(),
                    sessions: SmallVec::new(),
                });
                m.identity = identity.clone();
                m.sessions.push(session);
                m.sessions.len() == 1
            };
            if first {
                // Subscribed before anyone can see the user online: nothing published for them is missed.
                self.subs
                    .subscribe(self.link.keys.user_channel(&identity.tenant_id, &identity.user_id))
                    .await;
            }
            let before = self.replica.status_of(&identity.tenant_id, &identity.user_id);
            let me = self.link.member();
            let profile = serde_json::to_string(&profile_of(identity)).unwrap_or_default();
            match self
                .run(self.invocation("d", &identity.tenant_id, &identity.user_id, &me, ("1", ""), &profile))
                .await
            {
                Ok(Some(reply)) => {
                    self.apply_reply(&reply, identity, before);
                }
                _ => {
                    self.link.health.dropped.fetch_add(1, Ordering::Relaxed);
                    self.local_count(identity, &me, 1);
                }
            }
            before
        })
    }

    fn session_closed<'a>(&'a self, identity: &'a Identity, session: SessionId) -> BoxFuture<'a, SessionChange> {
        Box::pin(async move {
            let key = wire::user_member(&identity.tenant_id, &identity.user_id);
            let (known, last_here) = {
                let Some(mut m) = self.mine.get_mut(&key) else {
                    return SessionChange::default();
                };
                let len = m.sessions.len();
                m.sessions.retain(|s| *s != session);
                if m.sessions.len() == len {
                    return SessionChange::default();
                }
                (m.identity.clone(), m.sessions.is_empty())
            };
            if last_here {
                self.mine.remove_if(&key, |_, m| m.sessions.is_empty());
            }
            let me = self.link.member();
            let before = self.replica.status_of(&identity.tenant_id, &identity.user_id);
            let applied = match self
                .run(self.invocation("d", &identity.tenant_id, &identity.user_id, &me, ("-1", ""), ""))
                .await
            {
                Ok(Some(reply)) => self.apply_reply(&reply, &known, before),
                _ => self.local_count(&known, &me, -1),
            };
            if last_here
                && !self
                    .mine
                    .contains_key(&wire::user_member(&identity.tenant_id, &identity.user_id))
            {
                self.subs
                    .unsubscribe(self.link.keys.user_channel(&identity.tenant_id, &identity.user_id));
            }
            match applied {
                Some(a) => SessionChange {
                    edge: a.after == PresenceStatus::Offline,
                    presence: change(&a.identity, a.before, a.after),
                },
                // The reply was older than a state already applied: read the replica.
                None => {
                    let now = self.replica.status_of(&identity.tenant_id, &identity.user_id);
                    SessionChange {
                        edge: now == PresenceStatus::Offline,
                        presence: None,
                    }
                }
            }
        })
    }

    fn change_since(&self, identity: &Identity, before: PresenceStatus) -> Option<PresenceChange> {
        change(
            identity,
            before,
            self.replica.status_of(&identity.tenant_id, &identity.user_id),
        )
    }

    fn set_availability(&self, identity: &Identity, availability: Availability) -> Option<PresenceChange> {
        let away = availability == Availability::Away;
        let a = self.replica.edit(
            &identity.tenant_id,
            &identity.user_id,
            None,
            |e| e.away = away,
            now_ms(),
        )?;
        if a.before == PresenceStatus::Offline {
            return None;
        }
        self.write_field(
            &identity.tenant_id,
            &identity.user_id,
            "a",
            if away { "away" } else { "available" },
        );
        change(&a.identity, a.before, a.after)
    }

    fn set_in_call(&self, tenant_id: &str, user_id: &str, in_call: bool) -> Option<PresenceChange> {
        let a = self
            .replica
            .edit(tenant_id, user_id, None, |e| e.in_call = in_call, now_ms())?;
        if a.before == PresenceStatus::Offline {
            return None;
        }
        self.write_field(tenant_id, user_id, "c", if in_call { "1" } else { "0" });
        change(&a.identity, a.before, a.after)
    }

    fn available_agents(&self, tenant_id: &str) -> Vec<AgentView> {
        self.replica.available_agents(tenant_id)
    }

    fn identity(&self, tenant_id: &str, user_id: &str) -> Option<Arc<Identity>> {
        self.replica.identity(tenant_id, user_id)
    }

    fn status_of(&self, tenant_id: &str, user_id: &str) -> PresenceStatus {
        self.replica.status_of(tenant_id, user_id)
    }

    fn is_online(&self, tenant_id: &str, user_id: &str) -> bool {
        self.replica.status_of(tenant_id, user_id) != PresenceStatus::Offline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_keys_parse_back_whatever_the_ids_hold() {
        assert_eq!(parse_presence_key("2:t1:u1"), Some(("t1", "u1")));
        assert_eq!(parse_presence_key("3:a:b:c:d"), Some(("a:b", "c:d")));
        for bad in ["", "x:t:u", "9:t:u", "2:t1u1", "2:t1"] {
            assert_eq!(parse_presence_key(bad), None, "{bad:?}");
        }
    }
}
