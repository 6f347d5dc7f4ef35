//! The load generator's library: scenarios, clients and reports (the binary and its tests share it).

pub mod auth;
pub mod cli;
pub mod net;
pub mod procinfo;
pub mod progress;
pub mod report;
pub mod rtc_client;
pub mod scenario;
pub mod stats;

use cli::{Cli, Command};
use report::Report;

/// Runs the chosen scenario and writes its JSON and SVG files.
pub async fn run(cli: Cli) -> anyhow::Result<Report> {
    let report = match &cli.command {
        Command::Connections(args) => scenario::connections::run(&cli.common, args).await?,
        Command::Calls(args) => scenario::calls::run(&cli.common, args).await?,
        Command::Relay(args) => scenario::relay::run(&cli.common, args).await?,
        Command::Media(args) => scenario::media::run(&cli.common, args).await?,
    };
    if let Some(dir) = &cli.common.out_dir {
        report.write(dir)?;
    }
    Ok(report)
}
