//! The call driver: runs the state machine against the store and performs its effects.
//!
//! Every transition is read → `machine::apply` → conditional update (on the
//! row's version) → effects. Two devices or nodes racing on one call both
//! compute a transition; the store lets exactly one write it, and the loser
//! re-reads and gets the machine's answer for the new state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::events::CallEvents;
use super::machine::{self, Actor, Command, Effect, MachineError, NewCall, Transition};
use super::notify;
use super::open::{OpenCall, OpenCalls};
use super::rules;
use crate::auth::claims::Identity;
use crate::clock::now_ms;
use crate::cluster::{Bus, Envelope, Target};
use crate::cluster::{Member, Peers, PresenceFanout};
use crate::directory::Directory;
use crate::error::{Error, ErrorCode, Result};
use crate::media::MediaMode;
use crate::media::backend::MediaBackend;
use crate::metrics::Metrics;
use crate::model::SessionId;
use crate::model::{Call, CallStatus, Millis, Party, Side};
use crate::presence::{Presence, PresenceChange};
use crate::ratelimit::UserLimiter;
use crate::store::{CreateOutcome, Store};

/// Attempts of one transition before giving up with `conflict`.
pub const MAX_TRANSITION_ATTEMPTS: usize = 5;

/// The call layer's settings.
#[derive(Clone, Debug)]
pub struct CallSettings {
    pub ring_timeout: Duration,
    pub reconnect_grace: Duration,
    pub call_rate_per_minute: u32,
    pub call_rate_burst: u32,
    /// How long presence changes are gathered per tenant (0: send at once).
    pub presence_batch_window: Duration,
    /// Record every call (where the media backend can).
    pub record_calls: bool,
}

/// What a start request led to.
#[derive(Debug)]
pub enum StartOutcome {
    /// The callee's devices are ringing.
    Ringing { call: Call, caller_token: Option<String> },
    /// The callee was in a call or ringing: a BUSY row was written.
    Busy { call: Call },
    /// The callee was calling the caller: that call was accepted instead.
    Glare { call: Call, token: Option<String> },
}

/// What the call layer runs on, handed in once at start-up.
pub struct CallDeps {
    pub store: Store,
    pub directory: Arc<Directory>,
    pub presence: Arc<dyn Presence>,
    pub bus: Arc<dyn Bus>,
    pub media: Arc<dyn MediaBackend>,
    pub metrics: Arc<Metrics>,
    /// The name written on the calls this node owns.
    pub member: Arc<dyn Member>,
    /// Cluster mode: the other nodes.
    pub peers: Option<Arc<dyn Peers>>,
}

/// The call layer.
pub struct CallService {
    pub(super) store: Store,
    pub(super) directory: Arc<Directory>,
    /// Who is online, available, in a call (anywhere).
    pub(super) presence: Arc<dyn Presence>,
    pub(super) bus: Arc<dyn Bus>,
    /// Presence changes go out per tenant in short batches.
    pub(super) fanout: Arc<PresenceFanout>,
    /// How media flows: the embedded SFU, LiveKit or p2p.
    pub(super) media: Arc<dyn MediaBackend>,
    pub(super) metrics: Arc<Metrics>,
    /// This node's name on the calls it owns (cluster mode: node id and incarnation).
    pub(super) member: Arc<dyn Member>,
    /// Cluster mode: the other nodes (told of changes; asked for media they hold).
    pub(super) peers: Option<Arc<dyn Peers>>,
    pub(super) settings: CallSettings,
    /// Open calls as this node last wrote or read them, with their routes and
    /// timers: a transition or a relay starts from here instead of a read.
    /// The conditional update still decides; a stale copy only costs a retry.
    pub(super) open: OpenCalls,
    limiter: UserLimiter,
    /// Created / answered / ended, for whoever subscribes.
    events: CallEvents,
}

pub(super) fn machine_error(e: MachineError) -> Error {
    let (code, msg) = match e {
        MachineError::NotParticipant => (ErrorCode::CallNotFound, "no such call"),
        MachineError::NotCallee => (ErrorCode::NotCallee, "only the callee may do this"),
        MachineError::NotCaller => (ErrorCode::NotCaller, "only the caller may do this"),
        MachineError::AlreadyAnswered => (ErrorCode::CallAlreadyAnswered, "the call was already answered"),
        MachineError::NotRinging => (ErrorCode::CallNotRinging, "the call is not ringing"),
        MachineError::NotActive => (ErrorCode::CallNotActive, "the call is not active"),
        MachineError::Ended => (ErrorCode::CallEnded, "the call has ended"),
        MachineError::NotDue => (ErrorCode::Conflict, "the deadline has not passed"),
        MachineError::SystemOnly => (ErrorCode::Forbidden, "only the server may do this"),
        MachineError::SelfCall => (ErrorCode::CannotCallSelf, "you cannot call yourself"),
        MachineError::NotAllowed => (ErrorCode::CallNotAllowed, "customers may only call agents"),
    };
    Error::new(code, msg)
}

pub(super) fn party_of(id: &Identity) -> Party {
    Party {
        user_id: id.user_id.to_string(),
        kind: id.kind,
    }
}

impl CallService {
    pub fn new(deps: CallDeps, settings: CallSettings) -> Arc<Self> {
        Arc::new(Self {
            fanout: PresenceFanout::new(deps.bus.clone(), settings.presence_batch_window),
            limiter: UserLimiter::new(
                settings.call_rate_per_minute,
                settings.call_rate_burst,
                "too many calls started; wait a little",
            ),
            store: deps.store,
            directory: deps.directory,
            presence: deps.presence,
            bus: deps.bus,
            media: deps.media,
            metrics: deps.metrics,
            member: deps.member,
            peers: deps.peers,
            settings,
            open: OpenCalls::default(),
            events: CallEvents::default(),
        })
    }

    /// The call-event stream (created, answered, ended with the stored row).
    pub fn events(&self) -> &CallEvents {
        &self.events
    }

    pub(super) fn limiter_shrink(&self) {
        self.limiter.shrink();
    }

    pub fn media_mode(&self) -> MediaMode {
        self.media.mode()
    }

    pub fn livekit_url(&self) -> Option<&str> {
        self.media.client_url()
    }

    pub fn ring_timeout(&self) -> Duration {
        self.settings.ring_timeout
    }

    /// A media token for `user` in `call` (LiveKit mode), else `None`.
    pub(super) fn token_for(&self, call: &Call, user_id: &str, name: &str, side: Side) -> Result<Option<String>> {
        self.media.token(call, user_id, name, side)
    }

    /// Starts a call from `caller` to `callee_id` (same tenant only).
    pub async fn start(
        self: &Arc<Self>,
        caller: &Arc<Identity>,
        callee_id: &str,
        caller_name: Option<String>,
        record: Option<bool>,
        session: Option<SessionId>,
    ) -> Result<StartOutcome> {
        let t0 = Instant::now();
        self.limiter.check(&caller.tenant_id, &caller.user_id)?;
        if callee_id == &*caller.user_id {
            return Err(machine_error(MachineError::SelfCall));
        }
        // Cluster mode, cut off from Redis: only a callee connected here can be rung.
        if let Some(peers) = &self.peers
            && !peers.reachable(&caller.tenant_id, callee_id)
        {
            return Err(Error::new(
                ErrorCode::ClusterUnavailable,
                "the callee is not connected to this node and the other nodes cannot be reached now; retry",
            )
            .retry_after(1));
        }
        // A connected callee is known from their live token; otherwise ask the directory.
        let (to, callee_name) = match self.presence.identity(&caller.tenant_id, callee_id) {
            Some(id) => (party_of(&id), id.display_name()),
            None => {
                let p = self
                    .directory
                    .lookup(&caller.tenant_id, callee_id)
                    .await?
                    .ok_or_else(|| Error::new(ErrorCode::ParticipantNotFound, "no such participant"))?;
                let name = p.display_name();
                (
                    Party {
                        user_id: p.user_id,
                        kind: p.kind,
                    },
                    name,
                )
            }
        };
        let from = party_of(caller);
        machine::check_start(&from, &to).map_err(machine_error)?;
        let cannot_record = self.media.cannot_record();
        if record == Some(true)
            && let Some(why) = cannot_record
        {
            return Err(Error::new(ErrorCode::MediaUnavailable, why.to_owned()));
        }
        let record = cannot_record.is_none() && record.unwrap_or(self.settings.record_calls);
        // The insert itself detects busy lines. Two rounds: a line seen taken
        // may be released before the second look.
        for _ in 0..2 {
            let now = now_ms();
            let new = NewCall {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: caller.tenant_id.to_string(),
                caller: from.clone(),
                callee: to.clone(),
                caller_name: caller_name.clone().or_else(|| Some(caller.display_name())),
                callee_name: Some(callee_name.clone()),
                caller_session: session.map(|s| s.to_string()),
                record,
                node_id: self.member.member().to_string(),
            };
            let call = machine::ringing(new.clone(), now, self.settings.ring_timeout.as_millis() as Millis);
            match self.store.create_call(&call).await? {
                CreateOutcome::Created => {
                    let caller_token = self.token_for(&call, &caller.user_id, &caller.display_name(), Side::Caller)?;
                    self.on_created(&call, &callee_name)?;
                    self.metrics.call_setup_seconds.observe(t0.elapsed().as_secs_f64());
                    return Ok(StartOutcome::Ringing { call, caller_token });
                }
                CreateOutcome::CalleeBusy => {
                    let call = machine::busy(new, now);
                    self.store.insert_final_call(&call).await?;
                    self.events.changed(None, &call);
                    log_status(&call);
                    self.metrics.call_reached(CallStatus::Busy);
                    return Ok(StartOutcome::Busy { call });
                }
                CreateOutcome::LinesFreed => continue,
                CreateOutcome::CallerBusy => {
                    // Glare: the line is held by the callee's call to us, still ringing.
                    match self.store.open_call_of(&caller.tenant_id, &caller.user_id).await? {
                        Some(open) if rules::is_glare(&open, &from, &to) => {
                            let (call, token) = self.accept(caller, session, &open.id).await?;
                            return Ok(StartOutcome::Glare { call, token });
                        }
                        Some(_) => return Err(Error::new(ErrorCode::CallerBusy, "you are already in a call")),
                        None => continue,
                    }
                }
            }
        }
        // Lines were taken and released under us twice in a row.
        Err(Error::new(
            ErrorCode::Conflict,
            "the lines changed while placing the call; retry",
        ))
    }

    /// Rings the callee's devices and marks both participants in a call.
    fn on_created(self: &Arc<Self>, call: &Call, callee_name: &str) -> Result<()> {
        tracing::info!(call = %call.id, tenant = %call.tenant_id, user = %call.caller.user_id, callee = %call.callee.user_id, record = call.record, "call started");
        self.metrics.call_reached(CallStatus::Ringing);
        self.open.created(call);
        // Before the ring: a node holding the callee has the row before they can answer.
        if let Some(peers) = &self.peers {
            peers.call_changed(call);
        }
        self.events.changed(None, call);
        if let Some(deadline) = call.ring_deadline {
            self.schedule(&call.id, deadline, Command::RingTimeout);
        }
        let token = self.token_for(call, &call.callee.user_id, callee_name, Side::Callee)?;
        let view = notify::incoming(call, token, self.livekit_url().map(str::to_owned));
        self.publish_user(
            &call.tenant_id,
            &call.callee.user_id,
            None,
            notify::incoming_frame(&view),
        );
        for p in [&call.caller, &call.callee] {
            let change = self.presence.set_in_call(&call.tenant_id, &p.user_id, true);
            self.publish_presence(change);
        }
        Ok(())
    }

    /// The callee accepts; returns the call and the callee's media token.
    pub async fn accept(
        self: &Arc<Self>,
        who: &Identity,
        session: Option<SessionId>,
        call_id: &str,
    ) -> Result<(Call, Option<String>)> {
        let t = self.act(who, session, call_id, Command::Accept).await?;
        let token = self.token_for(&t, &who.user_id, &who.display_name(), Side::Callee)?;
        Ok((t, token))
    }

    /// A participant's command on a call: accept, decline, cancel or end.
    pub async fn act(
        self: &Arc<Self>,
        who: &Identity,
        session: Option<SessionId>,
        call_id: &str,
        cmd: Command,
    ) -> Result<Call> {
        let session = session.map(|s| s.to_string());
        let actor = Actor::User {
            user_id: &who.user_id,
            session: session.as_deref(),
        };
        Ok(self.transition(call_id, Some(&who.tenant_id), actor, cmd).await?.call)
    }

    /// An open call, from the cache or else the store (and then cached).
    pub(super) async fn open_call(&self, call_id: &str) -> Result<Arc<OpenCall>> {
        if let Some(held) = self.open.get(call_id) {
            return Ok(held);
        }
        self.store
            .get_call(call_id)
            .await?
            .and_then(|c| self.open.loaded(&c))
            .ok_or_else(|| Error::new(ErrorCode::CallNotFound, "no such open call"))
    }

    /// An open call `who` takes part in (cache, else the store), and their
    /// side; another tenant's call or one they are not in is `call_not_found`.
    pub(super) async fn participant_call(&self, who: &Identity, call_id: &str) -> Result<(Arc<OpenCall>, Side)> {
        let open = self.open_call(call_id).await?;
        let side = Some(&open.route)
            .filter(|r| *r.tenant_id == *who.tenant_id)
            .and_then(|r| r.side_of(&who.user_id))
            .ok_or_else(|| Error::new(ErrorCode::CallNotFound, "no such open call"))?;
        Ok((open, side))
    }

    /// Reads a call; only its participants may.
    pub async fn get_for(&self, who: &Identity, call_id: &str) -> Result<Call> {
        self.store
            .get_call(call_id)
            .await?
            .filter(|c| c.tenant_id == *who.tenant_id && c.side_of(&who.user_id).is_some())
            .ok_or_else(|| Error::new(ErrorCode::CallNotFound, "no such call"))
    }

    /// A page of the user's calls, newest first.
    pub async fn history(&self, who: &Identity, before: Option<&str>, limit: i64) -> Result<Vec<Call>> {
        self.store.history(&who.tenant_id, &who.user_id, before, limit).await
    }

    /// Read → apply → conditional write → effects, retried on a lost race.
    #[tracing::instrument(level = "info", name = "call", skip_all, fields(call = %call_id))]
    pub(super) async fn transition(
        self: &Arc<Self>,
        call_id: &str,
        tenant: Option<&str>,
        actor: Actor<'_>,
        cmd: Command,
    ) -> Result<Transition> {
        let mut use_cache = true;
        for _ in 0..MAX_TRANSITION_ATTEMPTS {
            let cached = if use_cache {
                self.open.get(call_id).map(|c| c.call.clone())
            } else {
                None
            };
            let fresh = cached.is_none();
            let call = match cached {
                Some(c) => c,
                None => match self.store.get_call(call_id).await? {
                    Some(c) => {
                        // (Caches an open call; forgets an ended one.)
                        self.open.loaded(&c);
                        c
                    }
                    None => {
                        self.open.forget(call_id);
                        return Err(Error::new(ErrorCode::CallNotFound, "no such call"));
                    }
                },
            };
            if tenant.is_some_and(|t| call.tenant_id != t) {
                return Err(Error::new(ErrorCode::CallNotFound, "no such call"));
            }
            let t = match machine::apply(&call, actor, cmd, now_ms()) {
                Ok(t) => t,
                // A refusal based on a cached copy is confirmed against the store.
                Err(_) if !fresh => {
                    use_cache = false;
                    continue;
                }
                Err(e) => return Err(machine_error(e)),
            };
            if self.store.update_call(&t.call).await? {
                if let Some(peers) = &self.peers {
                    peers.call_changed(&t.call);
                }
                self.perform(&t, call.status);
                return Ok(t);
            }
            self.metrics.stale_writes.inc();
            use_cache = false;
        }
        Err(Error::new(ErrorCode::Conflict, "the call changed too often; retry"))
    }

    /// Carries out a stored transition's effects; `prev` is the status before it.
    fn perform(self: &Arc<Self>, t: &Transition, prev: CallStatus) {
        let call = &t.call;
        let mut frames = notify::FrameCache::default();
        for effect in &t.effects {
            match effect {
                Effect::Notify {
                    side,
                    except_session,
                    kind,
                } => {
                    let frame = frames.get(call, *kind);
                    let except = except_session.as_deref().and_then(|s| s.parse().ok());
                    self.publish_user(&call.tenant_id, &call.party(*side).user_id, except, frame);
                }
                Effect::StopRingTimer | Effect::StopGraceTimer => self.open.cancel_timer(&call.id),
                Effect::StartGraceTimer { deadline } => {
                    self.schedule(&call.id, *deadline, Command::GraceExpired);
                }
                Effect::Release => {
                    for p in [&call.caller, &call.callee] {
                        let change = self.presence.set_in_call(&call.tenant_id, &p.user_id, false);
                        self.publish_presence(change);
                    }
                }
            }
        }
        self.open.advanced(call);
        if call.status != prev {
            self.events.changed(Some(prev), call);
            log_status(call);
            self.metrics.call_reached(call.status);
            self.media.follow(call, prev);
        }
    }

    pub(super) fn publish_user(
        &self,
        tenant: &str,
        user: &str,
        except: Option<SessionId>,
        frame: axum::extract::ws::Utf8Bytes,
    ) {
        self.bus.publish(Envelope {
            tenant_id: tenant.into(),
            target: Target::User {
                user_id: user.into(),
                except,
            },
            frame: frame.into(),
        });
    }

    /// Broadcasts an agent's visible status change to its tenant (batched per tenant).
    pub fn publish_presence(&self, change: Option<PresenceChange>) {
        self.fanout.publish(change);
    }
}

/// A call's answer and end, at info, with the call, tenant and user they concern.
fn log_status(call: &Call) {
    match call.status {
        CallStatus::Active => {
            tracing::info!(call = %call.id, tenant = %call.tenant_id, user = %call.callee.user_id, "call answered");
        }
        s if s.is_final() => {
            let by = call.ended_by.as_deref().unwrap_or("system");
            tracing::info!(
                call = %call.id,
                tenant = %call.tenant_id,
                user = by,
                status = s.as_str(),
                reason = call.end_reason.map_or("", |r| r.as_str()),
                duration = call.duration,
                "call ended"
            );
        }
        _ => {}
    }
}
