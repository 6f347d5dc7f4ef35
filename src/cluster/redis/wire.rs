//! What nodes say to each other through Redis: key and channel names under the prefix, and the messages (pure: no IO).
//!
//! A message is one JSON header line, then, for frames on their way to
//! clients, the frames themselves, one per line, exactly as the sockets will
//! write them: they are serialized once, by the publishing node, and never
//! re-encoded. Frames are compact JSON, which never holds a raw newline.
//! Parsing never panics: a message that does not parse is dropped.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Names of every key and channel, all under one prefix.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

/// `len:tenant:user`: the tenant's length first, so no two pairs share a name
/// whatever characters the ids hold.
fn pair(tenant: &str, user: &str) -> String {
    format!("{}:{tenant}:{user}", tenant.len())
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Every node listens here: heartbeats, tenant broadcasts, presence states, node deaths.
    pub fn cluster_channel(&self) -> String {
        format!("{}:cluster", self.prefix)
    }

    /// A user's frames; subscribed by the nodes that hold a socket of the user.
    pub fn user_channel(&self, tenant: &str, user: &str) -> String {
        format!("{}:u:{}", self.prefix, pair(tenant, user))
    }

    /// Requests to one node (media signaling for the rooms it holds) and their replies.
    pub fn node_channel(&self, member: &str) -> String {
        format!("{}:n:{member}", self.prefix)
    }

    /// A user's presence hash: `n:<member>` session counts, `id`, `a`, `c`.
    pub fn presence_key(&self, tenant: &str, user: &str) -> String {
        format!("{}:p:{}", self.prefix, pair(tenant, user))
    }

    /// The pattern that finds every presence hash.
    pub fn presence_pattern(&self) -> String {
        format!("{}:p:*", self.prefix)
    }

    /// The users a member holds sessions of (`tenant\nuser`), for reaping it.
    pub fn member_users(&self, member: &str) -> String {
        format!("{}:mu:{member}", self.prefix)
    }

    /// A member's heartbeat; it expires when the member stops beating.
    pub fn alive(&self, member: &str) -> String {
        format!("{}:alive:{member}", self.prefix)
    }

    /// Every member that has beaten and not been reaped.
    pub fn members(&self) -> String {
        format!("{}:members", self.prefix)
    }

    /// Set by the survivor that reaps a member: the member may not beat again.
    pub fn reaped(&self, member: &str) -> String {
        format!("{}:reaped:{member}", self.prefix)
    }

    /// The counter that orders presence states.
    pub fn presence_version(&self) -> String {
        format!("{}:pv", self.prefix)
    }
}

/// The member string of a set of users: `tenant\nuser`.
pub fn user_member(tenant: &str, user: &str) -> String {
    format!("{tenant}\n{user}")
}

/// `tenant\nuser` back into its parts.
pub fn parse_user_member(s: &str) -> Option<(&str, &str)> {
    s.split_once('\n')
}

/// The header line of every message.
#[derive(Serialize, Deserialize, Debug, Default, PartialEq, Eq)]
pub struct Header<'a> {
    /// The kind: `hb`, `t`, `u`, `p`, `c`, `dead`, `rq`, `rs`.
    #[serde(borrow)]
    pub k: Cow<'a, str>,
    /// The member that published it.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub o: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub t: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub u: Option<Cow<'a, str>>,
    /// `u`: every session of the user but this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<u64>,
    /// `u`: this session only (or, without `only`, every session when it is gone everywhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub only: bool,
    /// `rq`/`rs`: the request's id; `p`: the state's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<i64>,
    /// `c`: the call another node changed.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub call: Option<Cow<'a, str>>,
    /// `c`: the change ended the call.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fin: bool,
    /// `dead`: the member that died.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub m: Option<Cow<'a, str>>,
    /// `p`: the presence hash, as `HGETALL` returns it (absent: the user is offline everywhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<Vec<String>>,
    /// `rs`: whether the request succeeded (the body is then the answer, else an error code and message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
}

/// A message: its header, then the lines after it.
pub fn encode(header: &Header<'_>, lines: &[&str]) -> String {
    let mut out = serde_json::to_string(header).unwrap_or_default();
    for l in lines {
        out.push('\n');
        out.push_str(l);
    }
    out
}

/// The header and whatever follows its line (`""` if nothing).
pub fn decode(msg: &str) -> Option<(Header<'_>, &str)> {
    let (head, rest) = msg.split_once('\n').unwrap_or((msg, ""));
    let header: Header = serde_json::from_str(head).ok()?;
    Some((header, rest))
}

/// The frames after a header: one per line, empty lines skipped.
pub fn frames(rest: &str) -> impl Iterator<Item = &str> {
    rest.split('\n').filter(|l| !l.is_empty())
}

/// A user's presence as a node sees it: the hash of `presence_key`, read.
#[derive(Debug, Default, PartialEq, Eq, Clone)]
pub struct UserState {
    /// Members holding sessions, with how many each.
    pub members: Vec<(String, u32)>,
    /// The newest token's profile (JSON of `Profile`).
    pub profile: Option<String>,
    pub away: bool,
    pub in_call: bool,
}

impl UserState {
    /// Reads `HGETALL`'s flat `[field, value, …]`; unknown fields and bad counts are skipped.
    pub fn from_hash(h: &[String]) -> Self {
        let mut s = Self::default();
        for kv in h.chunks_exact(2) {
            let (k, v) = (kv[0].as_str(), kv[1].as_str());
            if let Some(member) = k.strip_prefix("n:") {
                if let Ok(n) = v.parse::<u32>()
                    && n > 0
                {
                    s.members.push((member.to_owned(), n));
                }
            } else {
                match k {
                    "id" => s.profile = Some(v.to_owned()),
                    "a" => s.away = v == "away",
                    "c" => s.in_call = v == "1",
                    _ => {}
                }
            }
        }
        s
    }

    pub fn online(&self) -> bool {
        !self.members.is_empty()
    }
}

/// What presence keeps of a user's token: the profile others see.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// `CRM_USER` or `PORTAL_CUSTOMER`.
    pub k: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r: Option<String>,
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
