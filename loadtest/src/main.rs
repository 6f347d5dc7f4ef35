//! `loadtest`: drives a running switchboard (or PeerJS server) and reports latency, throughput and memory.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = switchboard_loadtest::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.common.threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadtest: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(switchboard_loadtest::run(cli)) {
        Ok(report) => {
            println!("{}", report.summary_text());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
