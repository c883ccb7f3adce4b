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
    let ok = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    match &cli.command {
        // One HTTP stream, no config file or Redis involved: one thread is enough.
        Command::Subscribe(args) => return ok(block_on(Threads::One, cmd::subscribe::run(args))?),
        Command::Completions(args) => return ok(cmd::completions::run(args)),
        _ => {}
    }

    let serving = matches!(cli.command, Command::Serve(_));
    let scope = if serving {
        config::Scope::Serve
    } else {
        config::Scope::Client
    };
    let loaded = config::load(cli.global.config.as_deref(), &config::ProcessEnv, scope)?;
    init_tracing(cli.global.verbose, serving.then_some(&loaded.settings.log));
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let settings = loaded.settings.apply(&config::Overrides {
        redis: cli.global.redis.clone(),
        scope,
    });

    // A load generator needs every core to keep up with the server, and the
    // service uses every core. Operator commands are short-lived and mostly wait
    // on Redis: one thread is enough.
    match &cli.command {
        Command::Burst(args) => block_on(Threads::AllCores, cmd::burst::run(args))?,
        Command::Serve(args) => ok(block_on(
            Threads::AllCores,
            cmd::serve::run(args, settings),
        )?),
        Command::Inspect(args) => ok(block_on(Threads::One, cmd::inspect::run(args, &settings))?),
        Command::Trim(args) => ok(block_on(Threads::One, cmd::trim::run(args, &settings))?),
        Command::Claim(args) => ok(block_on(Threads::One, cmd::claim::run(args, &settings))?),
        // Handled above, before any settings are loaded.
        Command::Subscribe(_) | Command::Completions(_) => Ok(ExitCode::SUCCESS),
    }
}

/// The threads of a command's async runtime.
#[derive(Debug, Clone, Copy)]
enum Threads {
    /// A current-thread runtime.
    One,
    /// A multi-thread runtime with one worker per core.
    AllCores,
}

/// Runs `future` to completion on a new tokio runtime (timers and I/O enabled).
fn block_on<F: Future>(threads: Threads, future: F) -> anyhow::Result<F::Output> {
    let mut builder = match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread(),
        Threads::AllCores => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(runtime.block_on(future))
}

/// Logs go to stderr; `RUST_LOG` wins, else `-v`, else (for `serve`) `log.level`,
/// else `info`. `serve` writes JSON lines unless `log.pretty` is set, as upstream.
fn init_tracing(verbose: u8, service_log: Option<&config::LogSettings>) {
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
