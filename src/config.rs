//! Configuration: command-line flags (each also read from the environment) and the validated `Settings`.
//!
//! `Config` is what clap parses; `Settings` is what the server runs on, with
//! durations instead of seconds and every choice resolved. Tests build
//! `Settings` directly (millisecond timers, port 0).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::auth::AuthSettings;
use crate::auth::jwks::{JWKS_MAX_AGE, JWKS_MIN_REFETCH, JwksSettings};
use crate::auth::verifier::EXP_LEEWAY_SECS;
use crate::cluster::PRESENCE_BATCH_WINDOW;
use crate::cluster::redis::RedisSettings;
use crate::media::MediaMode;
pub use crate::media::livekit::LiveKitSettings;

mod integrations;
mod phone;
use crate::media::sfu::{MEDIA_TIMEOUT, RTC_PORT, SfuSettings};
use crate::media::turn::IceSettings;
use crate::net::{HEADER_TIMEOUT, KEEPALIVE_TIMEOUT, MAX_CONNECTIONS_PER_IP, NetSettings};
use crate::store::StoreOptions;
use crate::store::url::DatabaseUrl;
pub use integrations::{IntegrationSettings, IntegrationsConfig};
pub use phone::PhoneConfig;

/// The secret `--dev` signs and accepts tokens with. Never use it in production:
/// anyone who reads this file can mint tokens for it.
pub const DEV_JWT_SECRET: &str = "switchboard-dev-secret-not-for-production-use-0000";

/// Largest text frame a client may send; bigger ones close the socket with 1009.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// The server pings each socket this often.
pub const PING_INTERVAL: Duration = Duration::from_secs(20);
/// A socket from which nothing (not even a pong) arrived for this long is dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Frames waiting to be written to one socket; a client that lets it fill is disconnected.
pub const OUTBOUND_QUEUE: usize = 256;
/// Default `SWITCHBOARD_MAX_UNREAD_BYTES`: bytes written to a socket that its client may not have
/// read yet (not confirmed by a pong) before it is dropped as a slow consumer.
pub const MAX_UNREAD_BYTES: usize = 4 * 1024 * 1024;
/// Default `SWITCHBOARD_MAX_LAG_SECS`: a ping not answered for this long drops the client as a slow consumer.
pub const MAX_LAG: Duration = Duration::from_secs(10);
/// Default `SWITCHBOARD_TOKEN_WARNING_SECS`: `auth.expiring` is sent this long before a socket's token expires.
pub const TOKEN_WARNING: Duration = Duration::from_secs(60);
/// Default `SWITCHBOARD_MAX_SOCKETS_PER_USER`.
pub const MAX_SOCKETS_PER_USER: usize = 16;
/// tungstenite's read buffer per socket (its default, 128 KiB, costs 1.3 GB per 10k sockets).
pub const WS_READ_BUFFER: usize = 2 * 1024;
/// Frames are gathered up to this many bytes before a write (a flush always
/// writes): a batch of queued frames costs one syscall instead of one each.
/// The buffer grows only as far as a burst needs.
pub const WS_WRITE_BUFFER: usize = 16 * 1024;
/// How often the sweeper looks for calls whose deadline passed.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// Largest REST request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Default `RING_TIMEOUT_SECS`: seconds a call rings before it is MISSED.
pub const RING_TIMEOUT_SECS: u64 = 30;
/// Default `RECONNECT_GRACE_SECS`.
pub const RECONNECT_GRACE_SECS: u64 = 30;
/// Default `SWITCHBOARD_REDIS_PREFIX`.
pub const REDIS_PREFIX: &str = "sb";
/// Longest node id (it is part of Redis keys and of every call row it owns).
pub const MAX_NODE_ID_LEN: usize = 64;
/// Default `CALL_RATE_PER_MINUTE`.
pub const CALL_RATE_PER_MINUTE: u32 = 10;
/// Default `CALL_RATE_BURST`.
pub const CALL_RATE_BURST: u32 = 5;
/// Default `SWITCHBOARD_MAX_CONNECTIONS`.
pub const MAX_CONNECTIONS: usize = 200_000;
/// Default `DATABASE_MAX_CONNECTIONS` (PostgreSQL pool size).
pub const DATABASE_MAX_CONNECTIONS: u32 = 16;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SqliteSync {
    /// Durable across a crash of the process; a power loss may lose the last commits.
    Normal,
    /// Durable across power loss: one fsync per commit.
    Full,
}

/// switchboard: a self-hosted in-app calling server.
// No `Debug`: it holds the secrets as given (`Settings` prints them redacted).
#[derive(Parser, Clone)]
#[command(name = "switchboard", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "SWITCHBOARD_ADDR", default_value = "127.0.0.1:3001")]
    pub addr: SocketAddr,

    /// `sqlite://path.db` (created if missing) or `postgres://user@host/db`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://switchboard.db")]
    pub database_url: String,

    /// PostgreSQL connection pool size.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = DATABASE_MAX_CONNECTIONS)]
    pub database_max_connections: u32,

    /// SQLite durability (`synchronous` pragma, WAL journal). `full` costs one
    /// fsync per group commit, not per write.
    #[arg(long, env = "SQLITE_SYNCHRONOUS", value_enum, default_value_t = SqliteSync::Full)]
    pub sqlite_synchronous: SqliteSync,

    /// Legacy HS256 secret of the Supabase project (Settings → JWT Keys → Legacy JWT secret).
    #[arg(long, env = "SUPABASE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// The Supabase project's URL (`https://<ref>.supabase.co`): tokens signed
    /// with its signing keys (ES256/RS256, from its JWKS) are accepted, and user
    /// tokens must carry `iss = <url>/auth/v1`.
    #[arg(long, env = "SUPABASE_URL")]
    pub supabase_url: Option<String>,

    /// Where the signing keys are published (default `<SUPABASE_URL>/auth/v1/.well-known/jwks.json`).
    #[arg(long, env = "SUPABASE_JWKS_URL")]
    pub supabase_jwks_url: Option<String>,

    /// Seconds the fetched key set is used before it is fetched again.
    #[arg(long, env = "SUPABASE_JWKS_MAX_AGE_SECS", default_value_t = JWKS_MAX_AGE.as_secs())]
    pub supabase_jwks_max_age_secs: u64,

    /// Least seconds between two fetches of the key set (an unknown `kid` triggers one).
    #[arg(long, env = "SUPABASE_JWKS_MIN_REFETCH_SECS", default_value_t = JWKS_MIN_REFETCH.as_secs())]
    pub supabase_jwks_min_refetch_secs: u64,

    /// The `aud` user tokens must carry.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "authenticated")]
    pub jwt_audience: String,

    /// LiveKit server URL (https://… or wss://…).
    #[arg(long, env = "LIVEKIT_API_URL")]
    pub livekit_api_url: Option<String>,

    /// LiveKit API key; with the secret, selects the `livekit` media mode.
    #[arg(long, env = "LIVEKIT_API_KEY")]
    pub livekit_api_key: Option<String>,

    /// LiveKit API secret.
    #[arg(long, env = "LIVEKIT_API_SECRET", hide_env_values = true)]
    pub livekit_api_secret: Option<String>,

    /// URL browsers connect to (`livekitUrl`); defaults to LIVEKIT_API_URL with http→ws.
    #[arg(long, env = "LIVEKIT_WS_URL")]
    pub livekit_ws_url: Option<String>,

    /// Lifetime of minted LiveKit tokens (they only need to outlive joining).
    #[arg(long, env = "LIVEKIT_TOKEN_TTL_SECS", default_value_t = 600)]
    pub livekit_token_ttl_secs: u64,

    /// Force a media mode; by default `livekit` when LiveKit is configured, else `embedded`.
    #[arg(long, env = "SWITCHBOARD_MEDIA_MODE", value_enum)]
    pub media_mode: Option<MediaMode>,

    #[command(flatten)]
    pub phone: PhoneConfig,

    #[command(flatten)]
    pub integrations: IntegrationsConfig,

    /// UDP port of the embedded SFU; every media connection shares it (0: any free port).
    #[arg(long, env = "SWITCHBOARD_RTC_PORT", default_value_t = RTC_PORT)]
    pub rtc_port: u16,

    /// Address the SFU's UDP port binds to (default: the host of SWITCHBOARD_ADDR).
    #[arg(long, env = "SWITCHBOARD_RTC_IP")]
    pub rtc_ip: Option<IpAddr>,

    /// Address announced to browsers in ICE candidates (a server behind 1:1 NAT).
    #[arg(long, env = "SWITCHBOARD_PUBLIC_IP")]
    pub public_ip: Option<IpAddr>,

    /// Seconds without media from a connected participant before the call ends (`media_failed`).
    #[arg(long, env = "SWITCHBOARD_MEDIA_TIMEOUT_SECS", default_value_t = MEDIA_TIMEOUT.as_secs())]
    pub media_timeout_secs: u64,

    /// Directory of call recordings (embedded mode).
    #[arg(long, env = "SWITCHBOARD_RECORDING_DIR", default_value = "recordings")]
    pub recording_dir: PathBuf,

    /// Record every call (otherwise only calls started with `record: true`).
    #[arg(long, env = "SWITCHBOARD_RECORD_CALLS", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub record_calls: bool,

    /// STUN servers for browsers, comma-separated (`stun:stun.example.com:3478`).
    #[arg(long, env = "SWITCHBOARD_STUN_URLS", value_delimiter = ',')]
    pub stun_urls: Vec<String>,

    /// TURN servers for browsers, comma-separated (`turn:turn.example.com:3478?transport=udp`).
    #[arg(long, env = "SWITCHBOARD_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,

    /// coturn `static-auth-secret`: TURN credentials are minted from it per user (REST API scheme).
    #[arg(long, env = "SWITCHBOARD_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,

    /// Lifetime of minted TURN credentials.
    #[arg(long, env = "SWITCHBOARD_TURN_TTL_SECS", default_value_t = 3600)]
    pub turn_ttl_secs: u64,

    /// Seconds a call rings before it is MISSED.
    #[arg(long, env = "RING_TIMEOUT_SECS", default_value_t = RING_TIMEOUT_SECS)]
    pub ring_timeout_secs: u64,

    /// Seconds a participant who lost every socket during a call has to come back.
    #[arg(long, env = "RECONNECT_GRACE_SECS", default_value_t = RECONNECT_GRACE_SECS)]
    pub reconnect_grace_secs: u64,

    /// Calls one user may start per minute (sustained).
    #[arg(long, env = "CALL_RATE_PER_MINUTE", default_value_t = CALL_RATE_PER_MINUTE)]
    pub call_rate_per_minute: u32,

    /// Calls one user may start in a burst.
    #[arg(long, env = "CALL_RATE_BURST", default_value_t = CALL_RATE_BURST)]
    pub call_rate_burst: u32,

    /// Most TCP connections held at once; further ones wait in the accept queue.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", default_value_t = MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Most connections one client address may hold (0: no cap; use 0 behind a reverse proxy).
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS_PER_IP", default_value_t = MAX_CONNECTIONS_PER_IP)]
    pub max_connections_per_ip: usize,

    /// Seconds a client has to send a request's headers, from when the connection waits for it.
    #[arg(long, env = "SWITCHBOARD_HEADER_TIMEOUT_SECS", default_value_t = HEADER_TIMEOUT.as_secs())]
    pub header_timeout_secs: u64,

    /// Seconds an idle keep-alive connection stays open between requests.
    #[arg(long, env = "SWITCHBOARD_KEEPALIVE_TIMEOUT_SECS", default_value_t = KEEPALIVE_TIMEOUT.as_secs())]
    pub keepalive_timeout_secs: u64,

    /// Bytes of tungstenite's read buffer per socket (memory per idle socket vs reads per syscall).
    #[arg(long, env = "SWITCHBOARD_WS_READ_BUFFER", default_value_t = WS_READ_BUFFER)]
    pub ws_read_buffer: usize,

    /// Bytes gathered before a socket write (a flush always writes).
    #[arg(long, env = "SWITCHBOARD_WS_WRITE_BUFFER", default_value_t = WS_WRITE_BUFFER)]
    pub ws_write_buffer: usize,

    /// Frames queued per socket before the client is dropped as a slow consumer.
    #[arg(long, env = "SWITCHBOARD_OUTBOUND_QUEUE", default_value_t = OUTBOUND_QUEUE)]
    pub outbound_queue: usize,

    /// Bytes a socket's client may be behind (written, not yet confirmed read by a pong) before it is dropped.
    #[arg(long, env = "SWITCHBOARD_MAX_UNREAD_BYTES", default_value_t = MAX_UNREAD_BYTES)]
    pub max_unread_bytes: usize,

    /// Seconds a client may take to answer a ping (it answers once it has read everything before it).
    #[arg(long, env = "SWITCHBOARD_MAX_LAG_SECS", default_value_t = MAX_LAG.as_secs())]
    pub max_lag_secs: u64,

    /// Seconds before a socket's token expires that it is warned (`auth.expiring`).
    #[arg(long, env = "SWITCHBOARD_TOKEN_WARNING_SECS", default_value_t = TOKEN_WARNING.as_secs())]
    pub token_warning_secs: u64,

    /// Signaling sockets one user may hold at once (0: no limit).
    #[arg(long, env = "SWITCHBOARD_MAX_SOCKETS_PER_USER", default_value_t = MAX_SOCKETS_PER_USER)]
    pub max_sockets_per_user: usize,

    /// Milliseconds an agent's presence changes are gathered per tenant before they are sent (0: at once).
    #[arg(long, env = "PRESENCE_BATCH_MS", default_value_t = PRESENCE_BATCH_WINDOW.as_millis() as u64)]
    pub presence_batch_ms: u64,

    /// Async worker threads (default: one per CPU).
    #[arg(long, env = "SWITCHBOARD_WORKER_THREADS")]
    pub worker_threads: Option<usize>,

    /// This node's name. One node: `local` by default; calls it created are swept when it restarts.
    /// Cluster mode: a fresh name per start by default (each start is a new incarnation anyway).
    #[arg(long, env = "SWITCHBOARD_NODE_ID")]
    pub node_id: Option<String>,

    /// Cluster mode: `redis://` or `rediss://` URL of the Redis the nodes share (needs PostgreSQL).
    #[arg(long, env = "SWITCHBOARD_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Cluster mode: every Redis key and channel is under this prefix.
    #[arg(long, env = "SWITCHBOARD_REDIS_PREFIX", default_value = REDIS_PREFIX)]
    pub redis_prefix: String,

    /// Serve the web demo at `/` from this directory instead of the copy built into the binary.
    #[arg(long, env = "SWITCHBOARD_WEB_DIR")]
    pub web_dir: Option<PathBuf>,

    /// Do not serve the web demo at all.
    #[arg(long, env = "SWITCHBOARD_NO_WEB", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub no_web: bool,

    /// Log lines as `text` (for people) or `json` (one object per line, for collectors).
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Development mode: fixed, loudly logged JWT secret and `POST /dev/token`.
    #[arg(long, env = "SWITCHBOARD_DEV", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub dev: bool,
}

/// Per-socket limits.
#[derive(Clone, Debug)]
pub struct SocketSettings {
    pub max_message_bytes: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    pub outbound_queue: usize,
    pub read_buffer: usize,
    pub write_buffer: usize,
    pub max_unread_bytes: usize,
    pub max_lag: Duration,
    pub token_warning: Duration,
    /// 0: no limit.
    pub max_sockets_per_user: usize,
}

impl Default for SocketSettings {
    fn default() -> Self {
        Self {
            max_message_bytes: MAX_MESSAGE_BYTES,
            ping_interval: PING_INTERVAL,
            idle_timeout: IDLE_TIMEOUT,
            outbound_queue: OUTBOUND_QUEUE,
            read_buffer: WS_READ_BUFFER,
            write_buffer: WS_WRITE_BUFFER,
            max_unread_bytes: MAX_UNREAD_BYTES,
            max_lag: MAX_LAG,
            token_warning: TOKEN_WARNING,
            max_sockets_per_user: MAX_SOCKETS_PER_USER,
        }
    }
}

/// Everything the server runs on, resolved and checked.
#[derive(Clone, Debug)]
pub struct Settings {
    pub addr: SocketAddr,
    pub store: StoreOptions,
    pub auth: AuthSettings,
    pub dev: bool,
    pub livekit: Option<LiveKitSettings>,
    pub media_mode: MediaMode,
    pub ring_timeout: Duration,
    pub reconnect_grace: Duration,
    pub call_rate_per_minute: u32,
    pub call_rate_burst: u32,
    pub net: NetSettings,
    pub node_id: String,
    /// Cluster mode: the Redis the nodes share.
    pub redis: Option<RedisSettings>,
    /// `--web-dir`: the demo from disk.
    pub web_dir: Option<PathBuf>,
    /// Serve the demo built into the binary (when `web_dir` is not set).
    pub web_embedded: bool,
    pub sweep_interval: Duration,
    pub presence_batch_window: Duration,
    pub socket: SocketSettings,
    pub sfu: SfuSettings,
    pub record_calls: bool,
    pub ice: IceSettings,
    /// Phone calls and texts (docs/phone.md); `None` when Twilio is not configured.
    pub twilio: Option<crate::phone::settings::TwilioSettings>,
    /// Provider call-log sync (docs/integrations.md); off unless configured.
    pub integrations: IntegrationSettings,
    /// Webhooks out: the retry schedule and the delivery limits (docs/webhooks.md).
    pub webhooks: crate::outbox::OutboxSettings,
}

impl Settings {
    /// The CLI's defaults with `secret`, except: ephemeral ports
    /// (`127.0.0.1:0`, any free RTC port) and no web demo. For embedding the
    /// server in tests and tools, which then change what they need.
    pub fn with_secret(secret: &[u8]) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            store: StoreOptions {
                url: "sqlite://switchboard.db".into(),
                max_connections: DATABASE_MAX_CONNECTIONS,
                sqlite_synchronous_full: true,
            },
            auth: AuthSettings::with_secret(secret),
            dev: false,
            livekit: None,
            media_mode: MediaMode::Embedded,
            ring_timeout: Duration::from_secs(RING_TIMEOUT_SECS),
            reconnect_grace: Duration::from_secs(RECONNECT_GRACE_SECS),
            call_rate_per_minute: CALL_RATE_PER_MINUTE,
            call_rate_burst: CALL_RATE_BURST,
            net: NetSettings::default(),
            node_id: "local".into(),
            redis: None,
            web_dir: None,
            web_embedded: false,
            sweep_interval: SWEEP_INTERVAL,
            presence_batch_window: PRESENCE_BATCH_WINDOW,
            socket: SocketSettings::default(),
            sfu: SfuSettings {
                bind: SocketAddr::from(([127, 0, 0, 1], 0)),
                public_ip: None,
                media_timeout: MEDIA_TIMEOUT,
                recording_dir: PathBuf::from("recordings"),
            },
            record_calls: false,
            ice: IceSettings::default(),
            twilio: None,
            integrations: IntegrationSettings::default(),
            webhooks: crate::outbox::OutboxSettings::default(),
        }
    }

    /// Resolves the flags; an error says what to fix.
    pub fn from_config(c: Config) -> Result<Self, String> {
        let auth = auth_settings(&c)?;
        let twilio = phone::twilio_settings(&c.phone)?;
        let integrations = integrations::integration_settings(&c.integrations)?;
        let database = crate::store::url::parse(&c.database_url)?;
        let redis = redis_settings(&c, &database)?;
        let livekit = match (&c.livekit_api_key, &c.livekit_api_secret) {
            (Some(k), Some(s)) if !k.is_empty() && !s.is_empty() => Some(LiveKitSettings {
                api_key: k.clone(),
                api_secret: s.clone(),
                ws_url: c
                    .livekit_ws_url
                    .clone()
                    .or_else(|| c.livekit_api_url.as_deref().map(ws_url_of)),
                token_ttl: Duration::from_secs(c.livekit_token_ttl_secs.max(60)),
            }),
            (None, None) => None,
            _ => return Err("set both LIVEKIT_API_KEY and LIVEKIT_API_SECRET, or neither".into()),
        };
        let media_mode = match (c.media_mode, &livekit) {
            (Some(MediaMode::Livekit), None) => {
                return Err("media mode `livekit` needs LIVEKIT_API_KEY and LIVEKIT_API_SECRET".into());
            }
            (Some(m), _) => m,
            (None, Some(_)) => MediaMode::Livekit,
            (None, None) => MediaMode::Embedded,
        };
        if !c.turn_urls.is_empty() && c.turn_secret.as_deref().is_none_or(str::is_empty) {
            return Err("SWITCHBOARD_TURN_URLS needs SWITCHBOARD_TURN_SECRET (coturn's static-auth-secret)".into());
        }
        let rtc_ip = c.rtc_ip.unwrap_or_else(|| match c.addr.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ip => ip,
        });
        if c.ring_timeout_secs == 0 || c.ring_timeout_secs > 600 {
            return Err("RING_TIMEOUT_SECS must be between 1 and 600".into());
        }
        if c.call_rate_per_minute == 0 || c.call_rate_burst == 0 {
            return Err("CALL_RATE_PER_MINUTE and CALL_RATE_BURST must be at least 1".into());
        }
        Ok(Self {
            addr: c.addr,
            store: StoreOptions {
                url: c.database_url,
                max_connections: c.database_max_connections.max(1),
                sqlite_synchronous_full: c.sqlite_synchronous == SqliteSync::Full,
            },
            auth,
            dev: c.dev,
            livekit,
            media_mode,
            ring_timeout: Duration::from_secs(c.ring_timeout_secs),
            reconnect_grace: Duration::from_secs(c.reconnect_grace_secs),
            call_rate_per_minute: c.call_rate_per_minute,
            call_rate_burst: c.call_rate_burst,
            net: NetSettings {
                max_connections: c.max_connections.max(1),
                max_connections_per_ip: c.max_connections_per_ip,
                header_timeout: Duration::from_secs(c.header_timeout_secs.max(1)),
                keepalive_timeout: Duration::from_secs(c.keepalive_timeout_secs.max(1)),
            },
            node_id: match &redis {
                Some(r) => r.node_id.clone(),
                None => node_id(c.node_id.as_deref())?.unwrap_or_else(|| "local".into()),
            },
            redis,
            web_embedded: !c.no_web,
            web_dir: match c.web_dir {
                Some(d) if !d.is_dir() => {
                    return Err(format!("SWITCHBOARD_WEB_DIR {} is not a directory", d.display()));
                }
                Some(d) if c.no_web => {
                    return Err(format!(
                        "SWITCHBOARD_WEB_DIR {} and SWITCHBOARD_NO_WEB contradict each other",
                        d.display()
                    ));
                }
                other => other,
            },
            sweep_interval: SWEEP_INTERVAL,
            presence_batch_window: Duration::from_millis(c.presence_batch_ms.min(5_000)),
            sfu: SfuSettings {
                bind: SocketAddr::new(rtc_ip, c.rtc_port),
                public_ip: c.public_ip,
                media_timeout: Duration::from_secs(c.media_timeout_secs.max(1)),
                recording_dir: c.recording_dir,
            },
            record_calls: c.record_calls,
            ice: IceSettings {
                stun_urls: c.stun_urls,
                turn_urls: c.turn_urls,
                turn_secret: c.turn_secret.filter(|s| !s.is_empty()),
                turn_ttl: Duration::from_secs(c.turn_ttl_secs.clamp(60, 7 * 86_400)),
            },
            twilio,
            integrations,
            webhooks: crate::outbox::OutboxSettings::default(),
            socket: SocketSettings {
                read_buffer: c.ws_read_buffer.clamp(256, 1 << 20),
                write_buffer: c.ws_write_buffer.min(1 << 20),
                outbound_queue: c.outbound_queue.clamp(8, 1 << 16),
                max_unread_bytes: c.max_unread_bytes.max(64 * 1024),
                max_lag: Duration::from_secs(c.max_lag_secs.max(1)),
                token_warning: Duration::from_secs(c.token_warning_secs),
                max_sockets_per_user: c.max_sockets_per_user,
                ..SocketSettings::default()
            },
        })
    }
}

/// The token checks: the legacy secret, the project's key set, or both.
fn auth_settings(c: &Config) -> Result<AuthSettings, String> {
    let secret = c.jwt_secret.as_deref().filter(|s| !s.is_empty());
    if let Some(s) = secret
        && s.len() < 16
        && !c.dev
    {
        return Err("SUPABASE_JWT_SECRET is shorter than 16 bytes; use the project's real secret".into());
    }
    let supabase_url = match c.supabase_url.as_deref().filter(|u| !u.is_empty()) {
        Some(u) => Some(http_url("SUPABASE_URL", u)?.trim_end_matches('/').to_owned()),
        None => None,
    };
    let jwks_url = match (c.supabase_jwks_url.as_deref().filter(|u| !u.is_empty()), &supabase_url) {
        (Some(u), _) => Some(http_url("SUPABASE_JWKS_URL", u)?.to_owned()),
        (None, Some(base)) => Some(format!("{base}/auth/v1/.well-known/jwks.json")),
        (None, None) => None,
    };
    let jwt_secret = match (secret, c.dev, &jwks_url) {
        (Some(s), _, _) => Some(s.as_bytes().to_vec()),
        (None, true, _) => Some(DEV_JWT_SECRET.as_bytes().to_vec()),
        (None, false, Some(_)) => None,
        (None, false, None) => {
            return Err(
                "no way to check tokens: set SUPABASE_URL (the project's signing keys), \
                 SUPABASE_JWT_SECRET (the legacy secret), or both; or run with --dev for a local development secret"
                    .into(),
            );
        }
    };
    Ok(AuthSettings {
        jwt_secret,
        audience: c.jwt_audience.clone(),
        supabase_url,
        jwks: jwks_url.map(|url| JwksSettings {
            url,
            max_age: Duration::from_secs(c.supabase_jwks_max_age_secs.max(1)),
            min_refetch: Duration::from_secs(c.supabase_jwks_min_refetch_secs),
        }),
        leeway_secs: EXP_LEEWAY_SECS,
    })
}

/// `value` if it is an http(s) URL with a host.
fn http_url<'a>(name: &str, value: &'a str) -> Result<&'a str, String> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| format!("{name} must start with https:// (or http:// for a local project), not {value:?}"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("{name} has no host: {value:?}"));
    }
    Ok(value)
}

/// `https://x` → `wss://x`, `http://x` → `ws://x`; other schemes unchanged.
pub fn ws_url_of(api_url: &str) -> String {
    if let Some(rest) = api_url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = api_url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        api_url.to_owned()
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;

/// A node id as given: non-empty, short, and made of characters safe in keys and logs.
fn node_id(given: Option<&str>) -> Result<Option<String>, String> {
    let Some(id) = given else { return Ok(None) };
    let ok = !id.is_empty()
        && id.len() <= MAX_NODE_ID_LEN
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if !ok {
        return Err(format!(
            "SWITCHBOARD_NODE_ID must be 1 to {MAX_NODE_ID_LEN} letters, digits, '-' or '_'"
        ));
    }
    Ok(Some(id.to_owned()))
}

/// Cluster mode's settings, when `SWITCHBOARD_REDIS_URL` is set.
fn redis_settings(c: &Config, database: &DatabaseUrl) -> Result<Option<RedisSettings>, String> {
    let Some(url) = c.redis_url.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("redis" | "rediss") => {}
        Some("redis+sentinel" | "redis-sentinel") => {
            return Err("SWITCHBOARD_REDIS_URL: Redis Sentinel URLs are not supported yet; \
                        give the master's redis:// or rediss:// URL"
                .into());
        }
        _ => return Err("SWITCHBOARD_REDIS_URL must start with redis:// or rediss://".into()),
    }
    if matches!(database, DatabaseUrl::Sqlite { .. }) {
        return Err("SWITCHBOARD_REDIS_URL turns on cluster mode, which needs PostgreSQL: \
                    the nodes share one database, and SQLite is one process's file. \
                    Set DATABASE_URL=postgres://…, or unset SWITCHBOARD_REDIS_URL for one node"
            .into());
    }
    let prefix = c.redis_prefix.trim();
    if prefix.is_empty() || prefix.len() > 64 || prefix.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        return Err("SWITCHBOARD_REDIS_PREFIX must be 1 to 64 characters without spaces".into());
    }
    let node_id = node_id(c.node_id.as_deref())?.unwrap_or_else(|| {
        let id = uuid::Uuid::new_v4().simple().to_string();
        format!("node-{}", &id[..8])
    });
    Ok(Some(RedisSettings {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        node_id,
    }))
}
