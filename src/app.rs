//! The application: shared state, `Application::build(settings)` → `port()` → `run_until_stopped()`.
//!
//! Tests bind `127.0.0.1:0` and read the port back, as zero-to-production's
//! `spawn_app` does; `main` binds the configured address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::Verifier;
use crate::call::{CallDeps, CallService, CallSettings};
use crate::config::Settings;
use crate::directory::Directory;
use crate::media::MediaMode;
use crate::media::backend::{EmbeddedMedia, MediaBackend, P2pMedia};
use crate::media::livekit::LiveKitTokens;
use crate::media::sfu::Sfu;
use crate::metrics::Metrics;
use crate::presence::Presence;
use crate::signal::sessions::Sessions;
use crate::store::Store;
use crate::wire::views::IceServerView;

/// What every handler and session shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub calls: Arc<CallService>,
    /// This node's sockets (delivery only).
    pub registry: Arc<Sessions>,
    /// Who is online, available and in a call, anywhere.
    pub presence: Arc<dyn Presence>,
    pub directory: Arc<Directory>,
    pub verifier: Arc<Verifier>,
    /// Signaling sockets per user on this node (the per-user cap).
    pub sockets: Arc<crate::signal::caps::SocketCaps>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    /// Phone calls, texts, usage and invoices (Twilio).
    pub telephony: Arc<crate::telephony::Telephony>,
    /// Signed webhooks out: endpoints, the outbox, delivery.
    pub outbox: Arc<crate::outbox::Outbox>,
    /// Daily call metrics.
    pub dashboard: Arc<crate::dashboard::Dashboard>,
    /// Provider integrations and their call-log sync.
    pub integrations: Arc<crate::integrations::Integrations>,
    pub settings: Arc<Settings>,
    /// The embedded SFU, in embedded media mode.
    pub media: Option<Arc<Sfu>>,
    /// Cluster mode: this node's link to the others.
    pub cluster: Option<Arc<crate::cluster::redis::RedisNode>>,
    /// Cancelled to stop the server; sessions close with 1001 and leave their
    /// calls to the restart sweep (a stop is treated like a crash).
    pub shutdown: CancellationToken,
    /// Next session id; starts at a random point so ids differ across nodes.
    session_ids: Arc<AtomicU64>,
}

impl AppState {
    pub fn next_session_id(&self) -> u64 {
        self.session_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// STUN/TURN servers for `user_id`'s browser (TURN credentials minted now).
    pub fn ice_servers(&self, user_id: &str) -> Vec<IceServerView> {
        crate::media::turn::ice_servers(&self.settings.ice, user_id, crate::clock::now_ms())
    }
}

/// A built server, bound but not yet serving.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    /// The SFU's reports, consumed by the call layer once running.
    media_events: Option<tokio::sync::mpsc::UnboundedReceiver<crate::media::sfu::MediaEvent>>,
    /// Cluster mode: what the Redis node reports, consumed once running.
    cluster_events: Option<tokio::sync::mpsc::UnboundedReceiver<crate::cluster::redis::ClusterEvent>>,
}

impl Application {
    /// Opens the store, wires the layers and binds `settings.addr`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.addr))?;
        Self::build_with_listener(settings, listener).await
    }

    /// As `build`, on an already-bound listener.
    pub async fn build_with_listener(settings: Settings, listener: TcpListener) -> anyhow::Result<Self> {
        // The store's own message, once (not wrapped in "internal: …" and repeated).
        let store = Store::open(&settings.store).await.map_err(|e| match e {
            crate::error::Error::Internal(a) => a,
            other => anyhow::anyhow!("{other}"),
        })?;
        Self::build_with_store(settings, listener, store).await
    }

    /// As `build`, on an open (and so migrated) store: tests pass a PostgreSQL schema of their own.
    pub async fn build_with_store(settings: Settings, listener: TcpListener, store: Store) -> anyhow::Result<Self> {
        let addr = listener.local_addr()?;
        let metrics = Arc::new(Metrics::new());
        let registry = Arc::new(Sessions::default());
        let directory = Arc::new(Directory::new(store.clone()));
        let shutdown = CancellationToken::new();
        if settings.redis.is_some() && store.backend_name() != "postgres" {
            anyhow::bail!("cluster mode (SWITCHBOARD_REDIS_URL) needs PostgreSQL");
        }
        let crate::cluster::Cluster {
            bus,
            presence,
            member,
            redis,
        } = crate::cluster::create(
            registry.clone(),
            &settings.node_id,
            settings.redis.clone(),
            shutdown.clone(),
        )
        .await?;
        let (cluster, cluster_events) = match redis {
            Some((node, events)) => (Some(node), Some(events)),
            None => (None, None),
        };
        let livekit = settings.livekit.clone().map(LiveKitTokens::new);
        let embedded = settings.media_mode == MediaMode::Embedded;
        let mut recording_unavailable = None;
        if embedded && let Err(e) = crate::media::recording::check_writable(&settings.sfu.recording_dir) {
            let why = format!(
                "the recording directory {} cannot be written: {e}",
                settings.sfu.recording_dir.display()
            );
            if settings.record_calls {
                anyhow::bail!("{why}; fix SWITCHBOARD_RECORDING_DIR or turn SWITCHBOARD_RECORD_CALLS off");
            }
            tracing::warn!("{why}; calls asking to be recorded are refused");
            recording_unavailable = Some(format!("calls cannot be recorded on this server: {why}"));
        }
        let (media, media_events) = if embedded {
            let (sfu, events) = Sfu::start(settings.sfu.clone(), bus.clone(), shutdown.clone())
                .await
                .map_err(|e| anyhow::anyhow!("cannot bind the SFU's UDP port {}: {e}", settings.sfu.bind))?;
            (Some(sfu), Some(events))
        } else {
            (None, None)
        };
        let backend: Arc<dyn MediaBackend> = match (&media, settings.media_mode) {
            (Some(sfu), _) => Arc::new(EmbeddedMedia {
                sfu: sfu.clone(),
                cannot_record: recording_unavailable,
            }),
            (None, MediaMode::Livekit) => match livekit {
                Some(lk) => Arc::new(lk),
                None => anyhow::bail!("the livekit media mode needs LIVEKIT_API_KEY and LIVEKIT_API_SECRET"),
            },
            (None, _) => Arc::new(P2pMedia),
        };
        let outbox = crate::outbox::Outbox::new(store.clone(), settings.webhooks.clone(), &settings.node_id)?;
        let sink: Arc<dyn crate::webhook::EventSink> = outbox.clone();
        let telephony = crate::telephony::Telephony::new(
            store.clone(),
            presence.clone(),
            bus.clone(),
            settings.twilio.clone(),
            settings.node_id.clone(),
            settings.presence_batch_window,
            crate::telephony::PhoneRate {
                per_minute: settings.call_rate_per_minute,
                burst: settings.call_rate_burst,
            },
            sink.clone(),
        );
        let mut providers: Vec<Arc<dyn crate::providers::CallLogProvider>> = Vec::new();
        if let Some(rc) = settings.integrations.ringcentral.clone() {
            providers.push(Arc::new(
                crate::providers::ringcentral::RingCentral::new(rc).map_err(|e| anyhow::anyhow!(e))?,
            ));
        }
        if let Some(mc) = settings.integrations.mightycall.clone() {
            providers.push(Arc::new(
                crate::providers::mightycall::MightyCall::new(mc).map_err(|e| anyhow::anyhow!(e))?,
            ));
        }
        let integrations = crate::integrations::Integrations::new(
            store.clone(),
            bus.clone(),
            settings.integrations.sealer.clone(),
            providers,
            settings.integrations.sync.clone(),
            &settings.node_id,
            sink.clone(),
        );
        let calls = CallService::new(
            CallDeps {
                store: store.clone(),
                directory: directory.clone(),
                presence: presence.clone(),
                bus,
                media: backend,
                metrics: metrics.clone(),
                member,
                peers: cluster.clone().map(|n| n as Arc<dyn crate::cluster::Peers>),
            },
            CallSettings {
                ring_timeout: settings.ring_timeout,
                reconnect_grace: settings.reconnect_grace,
                call_rate_per_minute: settings.call_rate_per_minute,
                call_rate_burst: settings.call_rate_burst,
                presence_batch_window: settings.presence_batch_window,
                record_calls: settings.record_calls,
            },
        );
        let verifier = Arc::new(Verifier::from_settings(&settings.auth));
        let dashboard = crate::dashboard::Dashboard::new(store.clone());
        let seed = uuid::Uuid::new_v4().as_u64_pair().0 >> 12;
        let state = AppState {
            calls,
            registry,
            presence,
            directory,
            verifier,
            sockets: Arc::default(),
            store,
            metrics,
            telephony,
            integrations,
            dashboard,
            outbox,
            settings: Arc::new(settings),
            shutdown,
            media,
            cluster,
            session_ids: Arc::new(AtomicU64::new(seed)),
        };
        Ok(Self {
            listener,
            addr,
            state,
            media_events,
            cluster_events,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Cancel it to stop `run_until_stopped`.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// Sweeps calls left by a previous run, then serves until the shutdown token is cancelled.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let state = self.state;
        if let Some(jwks) = state.verifier.jwks().cloned() {
            // Fetched now rather than on the first token; a failure is logged and retried on use.
            tokio::spawn(async move {
                if jwks.refresh_if_due().await {
                    tracing::info!(url = %jwks.url(), "JWKS loaded");
                }
            });
        }
        let recovered = state.calls.recover_after_restart().await?;
        if recovered > 0 {
            tracing::info!(calls = recovered, "resumed calls left open by a previous run");
        }
        if let (Some(node), Some(events)) = (state.cluster.clone(), self.cluster_events) {
            crate::membership::start(state.clone(), node, events).await;
        }
        if let Some(events) = self.media_events {
            tokio::spawn(state.calls.clone().run_media_events(events, state.shutdown.clone()));
        }
        tokio::spawn(state.telephony.clone().run_sweeper(state.shutdown.clone()));
        tokio::spawn(state.integrations.clone().run_scheduler(state.shutdown.clone()));
        tokio::spawn(state.dashboard.clone().run_worker(state.shutdown.clone()));
        tokio::spawn(state.outbox.clone().run(state.shutdown.clone()));
        crate::webhook_feed::start(&state);
        let sweeper = tokio::spawn(
            state
                .calls
                .clone()
                .run_sweeper(state.settings.sweep_interval, state.shutdown.clone()),
        );
        let shutdown = state.shutdown.clone();
        let store = state.store.clone();
        let net = state.settings.net.clone();
        let metrics = state.metrics.clone();
        let app = crate::http::router(state);
        let served = crate::net::serve(self.listener, app, net, metrics, shutdown.clone()).await;
        shutdown.cancel();
        let _ = sweeper.await;
        store.close().await;
        served.map_err(Into::into)
    }
}
