//! The `nidan` binary: parse the command line and the configuration, set up logging, and hand
//! over to the command. Everything else lives in the module named after what it does.
//!
//! Exit status: 0 on success, 2 for a usage error or a bad setting (nothing was started), 1 for
//! anything that failed while running (an unknown account, an unreadable key file, …).

mod admin;
mod cli;
mod config;
mod keyfile;
mod logging;
mod migrate;
mod ops_commands;
mod serve;
mod totp_csv;
mod wiring;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ConfigCommand};
use crate::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load_from_process_env(cli.config.as_deref())
        .and_then(|config| logging::init(&config, cli.log_json).map(|()| config))
    {
        Ok(config) => config,
        Err(e) => {
            eprintln!("nidan: {e}");
            return ExitCode::from(2);
        }
    };
    logging::warn_unknown_env(&config);
    // The commands that need no runtime.
    match &cli.command {
        Command::Config(ConfigCommand::Check) => {
            println!("{}", ops_commands::describe(&config));
            return ExitCode::SUCCESS;
        }
        Command::Healthcheck { url } => {
            return match ops_commands::healthcheck(&config, url.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("nidan: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }

    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(cli.command, config)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::debug!("{e:?}");
            eprintln!("nidan: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve::run(config).await,
        Command::Migrate => migrate::run(config).await,
        Command::Admin(command) => admin::run(command, config).await,
        Command::Healthcheck { .. } | Command::Config(_) => Ok(()),
    }
}
