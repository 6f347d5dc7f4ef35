//! The `switchboard` binary: parse flags, set up logging, run the server until Ctrl-C / SIGTERM.

use clap::Parser;
use switchboard::config::{DEV_JWT_SECRET, LogFormat};
use switchboard::{Application, Config, Settings};
use tracing_subscriber::EnvFilter;

/// mimalloc: less fragmentation than glibc's malloc with many long-lived small
/// allocations interleaved with short-lived buffers (measured: docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Log filter when RUST_LOG is unset: switchboard at info; the WebRTC stack's
/// per-connection notices (ICE checks, DTLS retransmits, SCTP) only when they are warnings or worse.
const DEFAULT_LOG: &str = "info,webrtc=warn,rtc=warn,rtc_ice=error,rtc_dtls=error,rtc_srtp=warn,rtc_sctp=warn,\
rtc_interceptor=warn,rtc_mdns=error,rtc_turn=warn,rtc_stun=warn,rtc_rtp=warn,rtc_rtcp=warn,rtc_sdp=warn,\
rtc_media=warn,rtc_datachannel=warn,rtc_shared=warn";

/// Text (colours only on a terminal) or JSON lines, filtered by RUST_LOG or `DEFAULT_LOG`.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(true).init(),
        LogFormat::Text => builder.with_ansi(std::io::stdout().is_terminal()).init(),
    }
}

fn main() -> std::process::ExitCode {
    let config = Config::parse();
    init_logging(config.log_format);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = config.worker_threads {
        runtime.worker_threads(n.max(1));
    }
    match runtime.enable_all().build() {
        Ok(rt) => rt.block_on(serve(config)),
        Err(e) => {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> std::process::ExitCode {
    let settings = match Settings::from_config(config) {
        Ok(s) => s,
        Err(why) => {
            eprintln!("switchboard: refusing to start: {why}");
            return std::process::ExitCode::from(2);
        }
    };
    if settings.dev {
        if settings.auth.jwt_secret.as_deref() == Some(DEV_JWT_SECRET.as_bytes()) {
            tracing::warn!(
                "DEV MODE: tokens are signed with the public dev secret {DEV_JWT_SECRET:?} and POST /dev/token is open. Never expose this server."
            );
        } else {
            tracing::warn!(
                "DEV MODE: POST /dev/token is open and mints tokens with SUPABASE_JWT_SECRET. Never expose this server."
            );
        }
    }
    let mode = settings.media_mode;
    if settings.record_calls && mode != switchboard::media::MediaMode::Embedded {
        tracing::warn!("SWITCHBOARD_RECORD_CALLS has no effect: calls are recorded only in the embedded media mode");
    }
    let store = settings.store.url.clone();
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!(addr = %app.local_addr(), media_mode = mode.as_str(), store = %redact(&store), "switchboard listening on http://{}", app.local_addr());
    let stop = app.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        // Stop first: logging can fail (a closed stdout) and must not keep the server up.
        stop.cancel();
        tracing::info!("shutting down");
    });
    match app.run_until_stopped().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Hides a password in a database URL for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
