//! The `agentctl` binary: parse the command line, resolve settings, initialise
//! logging, run the subcommand, and map the outcome to an exit code
//! (0 ok or closed stdout pipe, 1 error, 2 usage, 130 interrupted).

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use anyhow::Context;
use clap::FromArgMatches;
use clap::parser::ValueSource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use agentctl::cli::{self, Cli, ColorChoice, Command};

/// mimalloc instead of the system allocator: a request allocates many small,
/// short-lived objects, and glibc's malloc spent ~15% of `serve`'s CPU on them
/// under load (measured with perf while running bench/serve-decide.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use agentctl::telemetry::Telemetry;
use agentctl::{cmd, config};

/// The exit code of a usage error, as clap uses for its own.
const USAGE: u8 = 2;
/// The exit code after Ctrl-C: 128 + SIGINT, what shells report for it.
const INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2.
    let matches = cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    let redis_typed = redis_on_command_line(&matches);
    match run(cli, redis_typed) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) if err.is::<cmd::Interrupted>() => ExitCode::from(INTERRUPTED),
        Err(err) if err.is::<cmd::Usage>() => {
            eprintln!("agentctl: {err}");
            ExitCode::from(USAGE)
        }
        Err(err) => {
            eprintln!("agentctl: {}", causes_once(&err));
            ExitCode::FAILURE
        }
    }
}

/// Whether `--redis` was typed on the command line (not taken from AGENTCTL_REDIS),
/// wherever it stands: a global flag is recorded on every level.
fn redis_on_command_line(matches: &clap::ArgMatches) -> bool {
    let mut level = Some(matches);
    while let Some(m) = level {
        if m.value_source("redis") == Some(ValueSource::CommandLine) {
            return true;
        }
        level = m.subcommand().map(|(_, sub)| sub);
    }
    false
}

fn run(cli: Cli, redis_typed: bool) -> anyhow::Result<ExitCode> {
    let ok = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    let color = color_of(cli.global.color);

    if let Command::Completions(args) = &cli.command {
        // Reads no settings, but a config file that was named must exist.
        if let Some(path) = &cli.global.config {
            std::fs::metadata(path).map_err(|error| config::Error::Read {
                path: path.clone(),
                error,
            })?;
        }
        return ok(cmd::completions::run(args));
    }
    if let Command::GenerateSecret(args) = &cli.command {
        // Reads no settings either: it makes values for them.
        return ok(cmd::generate_secret::run(args));
    }

    let serving = matches!(cli.command, Command::Serve(_));
    let scope = loaded_scope(serving);
    let loaded = config::load(cli.global.config.as_deref(), &config::ProcessEnv, scope)?;
    let pretty = if serving && loaded.is_set("log.pretty") {
        loaded.settings.log.pretty
    } else {
        io::stderr().is_terminal()
    };
    // Spans of `serve`, when `tracing.enabled`; built before any runtime exists
    // (see `Telemetry::start`) and flushed after the runtime is gone.
    let telemetry = if serving && loaded.settings.tracing.enabled {
        Some(Telemetry::start(&loaded.settings.tracing)?)
    } else {
        None
    };
    init_tracing(
        cli.global.verbose,
        serving.then_some(&loaded.settings.log),
        pretty,
        color.stderr(),
        telemetry.as_ref(),
    );
    if let Some(telemetry) = telemetry {
        let otel = &loaded.settings.tracing.opentelemetry;
        tracing::info!(
            exporter = %otel.default,
            service = %otel.service_name,
            "tracing enabled"
        );
        let result = run_command(cli, redis_typed, loaded, color);
        telemetry.shutdown();
        return result;
    }
    run_command(cli, redis_typed, loaded, color)
}

/// The scope settings are checked and resolved for: `serve` reads keys the client
/// commands ignore.
fn loaded_scope(serving: bool) -> config::Scope {
    if serving {
        config::Scope::Serve
    } else {
        config::Scope::Client
    }
}

/// Runs the subcommand with its resolved settings.
fn run_command(
    cli: Cli,
    redis_typed: bool,
    loaded: config::Loaded,
    color: cmd::Color,
) -> anyhow::Result<ExitCode> {
    let ok = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    let env = |key: &str| std::env::var(key).ok();
    let serving = matches!(cli.command, Command::Serve(_));
    let scope = loaded_scope(serving);
    match &loaded.file {
        Some(path) => tracing::debug!("config file: {}", path.display()),
        None => tracing::debug!("no config file: built-in defaults and the environment"),
    }
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }

    let client = matches!(cli.command, Command::Subscribe(_) | Command::Burst(_));
    if client && redis_typed {
        eprintln!(
            "agentctl: warning: --redis is not used by {}: it talks to the Agent over HTTP \
             (--url); ignoring it",
            if matches!(cli.command, Command::Burst(_)) {
                "burst"
            } else {
                "subscribe"
            }
        );
    }
    let redis = match &cli.global.redis {
        Some(redis) => Some(redis.clone()),
        // A generic variable many tools read: only the Redis operator commands
        // honour it, so it never turns `serve`'s notification sync on by surprise.
        None if !serving && !client => env("REDIS_URL").filter(|url| !url.is_empty()),
        None => None,
    };
    let settings = loaded.settings.apply(&config::Overrides { redis, scope });

    // A load generator needs every core to keep up with the server, and the
    // service uses every core. Operator commands and `subscribe` (one HTTP stream)
    // are short-lived or mostly wait: one thread is enough.
    match &cli.command {
        Command::Burst(args) => block_on(Threads::AllCores, cmd::burst::run(args, &settings))?,
        Command::Serve(args) => ok(block_on(
            Threads::AllCores,
            cmd::serve::run(args, settings),
        )?),
        Command::Subscribe(args) => ok(block_on(
            Threads::One,
            cmd::subscribe::run(args, &settings, color),
        )?),
        Command::Inspect(args) => ok(block_on(Threads::One, cmd::inspect::run(args, &settings))?),
        Command::Trim(args) => ok(block_on(Threads::One, cmd::trim::run(args, &settings))?),
        Command::Claim(args) => ok(block_on(Threads::One, cmd::claim::run(args, &settings))?),
        // Handled above, before any settings are loaded.
        Command::Completions(_) | Command::GenerateSecret(_) => Ok(ExitCode::SUCCESS),
    }
}

/// `--color`, with `NO_COLOR` (any non-empty value) turning `auto` off.
fn color_of(choice: ColorChoice) -> cmd::Color {
    match choice {
        ColorChoice::Always => cmd::Color::Always,
        ColorChoice::Never => cmd::Color::Never,
        ColorChoice::Auto if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) => {
            cmd::Color::Never
        }
        ColorChoice::Auto => cmd::Color::Auto,
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
/// else `info`. `serve` writes readable lines when `pretty` (a terminal, or
/// `log.pretty: true`) and JSON lines otherwise, as upstream; the other commands
/// always write readable lines. `ansi` colours them. With `telemetry`, its layer
/// records the OpenTelemetry spans beside the log output, each with its own
/// filter; without it the subscriber is the plain log one, so span sites cost
/// nothing.
fn init_tracing(
    verbose: u8,
    service_log: Option<&config::LogSettings>,
    pretty: bool,
    ansi: bool,
    telemetry: Option<&Telemetry>,
) {
    let level = match (verbose, service_log) {
        (0, Some(log)) => log.level.to_ascii_lowercase(),
        (0, None) => "info".to_owned(),
        (1, _) => "debug".to_owned(),
        _ => "trace".to_owned(),
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("agentctl={level}")));
    let json = service_log.is_some() && !pretty;
    if let Some(telemetry) = telemetry {
        let logs = tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_target(false);
        let logs = if json {
            logs.json().with_filter(filter).boxed()
        } else {
            logs.with_ansi(ansi).with_filter(filter).boxed()
        };
        tracing_subscriber::registry()
            .with(logs)
            .with(telemetry.layer())
            .init();
        return;
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.with_ansi(ansi).init();
    }
}

/// The error and its causes, `: `-separated, each cause once: a cause whose text
/// the message before it already contains (libraries often repeat their source in
/// their own message) is left out.
fn causes_once(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|io| io.kind() == io::ErrorKind::BrokenPipe)
}
