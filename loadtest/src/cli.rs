//! Command-line interface: common options and one subcommand per scenario.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Load generator for switchboard.
///
/// Mints its own tokens from the JWT secret it is given, opens sockets
/// (spread over several loopback source addresses so the ephemeral port
/// range is not the limit), runs one scenario and prints percentiles from
/// HDR histograms. With --out-dir it also writes `<scenario>-<time>.json`
/// and an SVG chart (latency over time, and its distribution).
#[derive(Parser, Debug, Clone)]
#[command(name = "loadtest", version)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Base URL of the server (http://host:port). Give it once per node to spread the
    /// clients over several nodes of one cluster (round robin; see each scenario).
    #[arg(long, global = true, default_value = "http://127.0.0.1:3001", action = clap::ArgAction::Append)]
    pub url: Vec<String>,

    /// JWT secret to mint tokens with (switchboard's SUPABASE_JWT_SECRET; --dev uses the dev secret).
    #[arg(
        long,
        global = true,
        env = "SUPABASE_JWT_SECRET",
        default_value = "switchboard-dev-secret-not-for-production-use-0000",
        hide_env_values = true
    )]
    pub secret: String,

    /// The `aud` claim of minted tokens.
    #[arg(long, global = true, default_value = "authenticated")]
    pub audience: String,

    /// Loopback source addresses to spread connections over: 127.0.0.2 .. 127.0.0.(1+N).
    /// 0 lets the kernel choose (one address: ~28k connections at most).
    #[arg(long, global = true, default_value_t = 0)]
    pub source_ips: u8,

    /// PID of the server, to read its resident memory and CPU time from /proc.
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,

    /// Directory for the JSON result and the SVG chart.
    #[arg(long, global = true)]
    pub out_dir: Option<PathBuf>,

    /// A label stored in the result (e.g. "switchboard" or "peerjs").
    #[arg(long, global = true)]
    pub label: Option<String>,

    /// Worker threads of the load generator.
    #[arg(long, global = true, default_value_t = 2)]
    pub threads: usize,

    /// Hide the progress bar.
    #[arg(long, global = true)]
    pub quiet: bool,

    /// Prefix of every user id this run creates (default: random), so runs never collide.
    #[arg(long, global = true)]
    pub run_id: Option<String>,
}

impl Common {
    /// This run's user-id prefix.
    pub fn run_prefix(&self) -> String {
        self.run_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..6].to_owned())
    }

    /// The source addresses to rotate through (empty: let the kernel pick).
    pub fn sources(&self) -> Vec<Ipv4Addr> {
        (0..self.source_ips).map(|i| Ipv4Addr::new(127, 0, 0, 2 + i)).collect()
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Open N authenticated, presence-tracked sockets at a ramp rate and hold them.
    ///
    /// Reports how many connected, connect latency percentiles (from the
    /// moment the attempt was due by the ramp to `welcome`, so waiting for a
    /// --concurrency slot counts), and the server's resident memory per socket
    /// (from /proc with --server-pid, else from /metrics).
    Connections(ConnectionsArgs),
    /// Customers call agents at a target rate; agents accept after a delay; calls are held and ended.
    ///
    /// Reports p50/p90/p99/max of start-call → `call.incoming` (at the agent),
    /// accept → `call.accepted` (at the customer), end → `call.ended` (at the
    /// agent), the achieved rate, and every error by code.
    Calls(CallsArgs),
    /// Calls with real media through the embedded SFU (webrtc-crate clients, Opus both ways).
    ///
    /// Runs --calls calls, at most --concurrency at once; each rings, is
    /// accepted, connects both participants to the SFU, talks --talk-ms (50
    /// packets a second each way), is checked for delivery, hung up and torn
    /// down. Reports delivery, media setup time, and the server's resident
    /// memory after the first --sample-after calls (a warm-up phase: all of
    /// them ended and their media released) and at the end (likewise).
    Media(MediaArgs),
    /// Pairs of peers exchange relayed signaling messages; reports messages per second and round trips.
    ///
    /// Against switchboard the pairs are in ACTIVE calls and send `rtc.signal`;
    /// against the PeerJS server (--target peerjs) they send OFFER/ANSWER. Each
    /// message is echoed by the other peer; the round trip is measured at the sender
    /// (open loop: from when the message was due, so late sends count).
    Relay(RelayArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ConnectionsArgs {
    /// Sockets to open.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// New sockets per second.
    #[arg(long, default_value_t = 2000)]
    pub ramp: u32,
    /// Seconds to hold every socket open once all are connected.
    #[arg(long, default_value_t = 10)]
    pub hold: u64,
    /// Tenants to spread the users over.
    #[arg(long, default_value_t = 100)]
    pub tenants: usize,
    /// Share of users that are agents (the rest are customers).
    #[arg(long, default_value_t = 0.2)]
    pub agent_share: f64,
    /// Most connection attempts in flight at once.
    #[arg(long, default_value_t = 512)]
    pub concurrency: usize,
}

#[derive(Args, Debug, Clone)]
pub struct CallsArgs {
    /// Agent/customer pairs (each customer calls its own agent; a pair has one call at a time).
    #[arg(long, default_value_t = 200)]
    pub pairs: usize,
    /// Calls started per second, across all customers.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Seconds to keep starting calls.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Milliseconds an agent waits before accepting.
    #[arg(long, default_value_t = 50)]
    pub answer_delay_ms: u64,
    /// Milliseconds a call is held before the customer hangs up.
    #[arg(long, default_value_t = 500)]
    pub hold_ms: u64,
    /// Tenants to spread the pairs over.
    #[arg(long, default_value_t = 10)]
    pub tenants: usize,
    /// With several --url: put each customer on its agent's node (default: on the next node,
    /// so every call crosses nodes).
    #[arg(long)]
    pub same_node: bool,
}

#[derive(Args, Debug, Clone)]
pub struct MediaArgs {
    /// Calls to run in all.
    #[arg(long, default_value_t = 100)]
    pub calls: usize,
    /// Calls at once.
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    /// Milliseconds each call talks (both ways) once media is up.
    #[arg(long, default_value_t = 1000)]
    pub talk_ms: u64,
    /// Warm-up calls (at most --calls): once all have ended and the SFU reports nothing open,
    /// the server's memory is read as the baseline; then the other calls run.
    #[arg(long, default_value_t = 10)]
    pub sample_after: usize,
    /// Tenants to spread the pairs over.
    #[arg(long, default_value_t = 10)]
    pub tenants: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    Switchboard,
    Peerjs,
}

#[derive(Args, Debug, Clone)]
pub struct RelayArgs {
    /// Which server speaks at --url.
    #[arg(long, value_enum, default_value_t = Target::Switchboard)]
    pub target: Target,
    /// Peer pairs.
    #[arg(long, default_value_t = 100)]
    pub pairs: usize,
    /// Messages each pair's first peer sends per second (open loop, each pair at a random
    /// phase; round trips count from when a message was due). 0 = closed loop (see --window).
    #[arg(long, default_value_t = 0.0)]
    pub rate_per_pair: f64,
    /// Closed loop: messages each pair keeps in flight (ignored with --rate-per-pair).
    #[arg(long, default_value_t = 1)]
    pub window: usize,
    /// Bytes of padding in each message's payload.
    #[arg(long, default_value_t = 200)]
    pub payload: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    /// PeerJS path prefix (the server's --path).
    #[arg(long, default_value = "/")]
    pub peerjs_path: String,
    /// Tenants to spread the pairs over (switchboard).
    #[arg(long, default_value_t = 10)]
    pub tenants: usize,
}
