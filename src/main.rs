//! The `agentctl` binary: parse the command line, resolve settings, initialise
//! logging, run the subcommand, and map the outcome to an exit code
//! (0 ok or closed stdout pipe, 1 error, 2 usage).

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use agentctl::cli::{Cli, Command};

/// mimalloc instead of the system allocator: a request allocates many small,
/// short-lived objects, and glibc's malloc spent ~15% of `serve`'s CPU on them
/// under load (measured with perf while running bench/serve-decide.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use agentctl::{cmd, config};

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2.
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("agentctl: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Subscribe(args) = &cli.command {
        // One HTTP stream, no config file or Redis involved: one thread is enough.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        runtime.block_on(cmd::subscribe::run(args))?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Completions(args) = &cli.command {
        cmd::completions::run(args)?;
        return Ok(ExitCode::SUCCESS);
    }

    let serving = matches!(cli.command, Command::Serve(_));
    let scope = if serving {
        config::Scope::Serve
    } else {
        config::Scope::Client
    };
    let loaded = config::load(
        cli.global.config.as_deref(),
        &|key| std::env::var(key).ok(),
        scope,
    )?;
    init_tracing(cli.global.verbose, serving.then_some(&loaded.settings.log));
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let settings = loaded.settings.apply(&config::Overrides {
        redis: cli.global.redis.clone(),
        scope,
    });

    if let Command::Burst(args) = &cli.command {
        // A load generator needs every core to keep up with the server.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        return runtime.block_on(cmd::burst::run(args));
    }

    if let Command::Serve(args) = &cli.command {
        // The service uses every core.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        runtime.block_on(cmd::serve::run(args, settings))?;
        return Ok(ExitCode::SUCCESS);
    }

    // Operator commands are short-lived and mostly wait on Redis: one thread is enough.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        match &cli.command {
            Command::Inspect(args) => cmd::inspect::run(args, &settings).await,
            Command::Trim(args) => cmd::trim::run(args, &settings).await,
            Command::Claim(args) => cmd::claim::run(args, &settings).await,
            Command::Serve(_)
            | Command::Subscribe(_)
            | Command::Burst(_)
            | Command::Completions(_) => Ok(()),
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Logs go to stderr; `RUST_LOG` wins, else `-v`, else (for `serve`) `log.level`,
/// else `info`. `serve` writes JSON lines unless `log.pretty` is set, as upstream.
fn init_tracing(verbose: u8, service_log: Option<&config::Log>) {
    let level = match (verbose, service_log) {
        (0, Some(log)) => log.level.to_ascii_lowercase(),
        (0, None) => "info".to_owned(),
        (1, _) => "debug".to_owned(),
        _ => "trace".to_owned(),
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("agentctl={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_target(false);
    if service_log.is_some_and(|log| !log.pretty) {
        builder.json().init();
    } else {
        builder.with_ansi(io::stderr().is_terminal()).init();
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|io| io.kind() == io::ErrorKind::BrokenPipe)
}
