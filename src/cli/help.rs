//! The examples and exit-status table of every subcommand, appended to its long
//! help and used by the generated man and reference pages.

/// One example of a subcommand: shown by `--help` and in the man page's EXAMPLES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Example {
    /// The command line, starting with `agentctl`.
    pub command: &'static str,
    /// What it does.
    pub meaning: &'static str,
}

/// An [`Example`] literal (a macro, so that the tables below are constants).
macro_rules! ex {
    ($command:expr, $meaning:expr $(,)?) => {
        Example {
            command: $command,
            meaning: $meaning,
        }
    };
}

/// The examples of a subcommand (empty for an unknown name).
/// `agentctl` itself has the everyday commands of the README's first ten minutes.
pub fn examples(subcommand: &str) -> &'static [Example] {
    match subcommand {
        "agentctl" => &[
            ex!(
                "agentctl serve",
                "The Agent-compatible service on the demo datafile, offline.",
            ),
            ex!(
                "agentctl subscribe --filter decision",
                "In a second terminal: follow its decision notifications.",
            ),
            ex!(
                "agentctl burst",
                "In a third: send 20 decisions and report the latencies.",
            ),
            ex!(
                "agentctl inspect pending",
                "With `agentctl --redis HOST:PORT serve`: what its durable groups left pending.",
            ),
        ],
        "serve" => &[
            ex!(
                "agentctl serve",
                "Serve the demo datafile of ./datafiles on 127.0.0.1:8080 (admin 8088, webhook 8089), \
                 notifications in memory.",
            ),
            ex!(
                "agentctl --redis 127.0.0.1:6379 serve --api-addr 127.0.0.1:18081 \
                 --admin-addr 127.0.0.1:18181 --webhook-addr 127.0.0.1:18281",
                "One instance of a fleet: notifications synchronised through Redis Streams.",
            ),
        ],
        "subscribe" => &[
            ex!(
                "agentctl subscribe --filter decision",
                "Follow the decisions of the local serve (SDK key: the only datafile in ./datafiles).",
            ),
            ex!(
                "agentctl subscribe --sdk-key demo --filter track --count 100 --json",
                "Print the next 100 track notifications as JSON lines, then exit.",
            ),
            ex!(
                "agentctl subscribe --from-start --until-caught-up > backlog.jsonl",
                "Save everything a Redis Streams serve retains, then exit.",
            ),
            ex!(
                "agentctl subscribe --url agent-1:8080,agent-2:8080 --sdk-key demo",
                "Follow agent-1; if it goes away, resume on agent-2 without losing a notification.",
            ),
        ],
        "burst" => &[
            ex!(
                "agentctl burst",
                "Send 20 decisions to the local serve and report the latencies.",
            ),
            ex!(
                "agentctl burst --flags promo_banner --concurrency 16 --duration 10s \
                 --threshold 'p99<5ms'",
                "Ten seconds of load from 16 workers; exit 1 when p99 is 5 ms or more.",
            ),
            ex!(
                "agentctl burst --requests 1000 --verify --subscribers 4",
                "Check that every notification of 1000 decisions reaches 4 subscribers.",
            ),
        ],
        "inspect" => &[
            ex!(
                "agentctl inspect pending",
                "The pending entries of the default SDK key's stream, and how to claim idle ones.",
            ),
            ex!(
                "agentctl --redis 127.0.0.1:6379 inspect streams",
                "Every notification stream of that Redis.",
            ),
            ex!(
                "agentctl inspect groups --sdk-key demo --json --watch 2s",
                "The consumer groups of stream:optimizely-sync-demo as JSON, every 2 seconds.",
            ),
        ],
        "trim" => &[
            ex!(
                "agentctl trim --sdk-key demo --maxlen 1000 --safe --dry-run",
                "What trimming the stream to about 1000 entries would remove, sparing pending ones.",
            ),
            ex!(
                "agentctl trim --all --max-age 24h",
                "Remove entries older than a day from every notification stream.",
            ),
        ],
        "claim" => &[
            ex!(
                "agentctl claim --group notifications --to consumer-2 --dry-run",
                "What would move to consumer-2 from the default SDK key's stream.",
            ),
            ex!(
                "agentctl claim --sdk-key demo --group notifications --to consumer-2 \
                 --dead-letter stream:dead-letter --max-deliveries 5",
                "Claim idle entries; those delivered more than 5 times go to a dead-letter stream.",
            ),
            ex!(
                "agentctl claim --sdk-key demo --delete-idle-groups 24h --dry-run",
                "The consumer groups nobody has read for a day (drop --dry-run to delete them).",
            ),
        ],
        "generate-secret" => &[ex!(
            "agentctl generate-secret",
            "Print a new client secret (for the client) and its hash (for api.auth.clients).",
        )],
        "completions" => &[
            ex!(
                "agentctl completions bash > ~/.local/share/bash-completion/completions/agentctl",
                "Install bash completion for the current user.",
            ),
            ex!(
                "agentctl completions zsh > \"${fpath[1]}/_agentctl\"",
                "Install zsh completion.",
            ),
        ],
        _ => &[],
    }
}

/// The exit codes of a subcommand and what each means.
pub fn exit_status(subcommand: &str) -> &'static [(&'static str, &'static str)] {
    const USAGE: (&str, &str) = (
        "2",
        "Usage error: an unknown or misused flag, or a value that cannot be resolved (no SDK key).",
    );
    const INTERRUPTED: (&str, &str) = ("130", "Interrupted (Ctrl-C).");
    match subcommand {
        "serve" => &[
            ("0", "Stopped by SIGTERM after a graceful shutdown."),
            (
                "1",
                "Could not start: bad configuration, a listener that cannot bind, no datafiles.",
            ),
            USAGE,
            (
                "130",
                "Stopped by SIGINT (Ctrl-C) after a graceful shutdown.",
            ),
        ],
        "subscribe" => &[
            (
                "0",
                "--count notifications printed, --timeout passed, or caught up (--until-caught-up).",
            ),
            (
                "1",
                "The server cannot be reached or answered an error; a drop with --no-reconnect.",
            ),
            USAGE,
            INTERRUPTED,
        ],
        "burst" => &[
            (
                "0",
                "Every request succeeded (or the errors threshold held) and nothing was lost.",
            ),
            (
                "1",
                "A request failed, a --threshold was violated, or --verify lost a notification.",
            ),
            USAGE,
            INTERRUPTED,
        ],
        "completions" => &[("0", "The script was printed."), USAGE],
        "generate-secret" => &[
            ("0", "The secret and its hash were printed."),
            (
                "1",
                "No random bytes could be read, or stdout cannot be written.",
            ),
            USAGE,
        ],
        _ => &[
            ("0", "Success, also when stdout is a closed pipe."),
            (
                "1",
                "Redis unreachable, the stream or group missing, or another error (one line on stderr).",
            ),
            USAGE,
            INTERRUPTED,
        ],
    }
}

/// `Examples:` and `Exit status:` as text, for the end of `--help`.
pub(super) fn after_help_of(subcommand: &str) -> String {
    let mut text = String::from("Examples:\n");
    for example in examples(subcommand) {
        text.push_str(&format!(
            "  {}\n      {}\n",
            example.command, example.meaning
        ));
    }
    text.push_str("\nExit status:\n");
    for (code, meaning) in exit_status(subcommand) {
        text.push_str(&format!("  {code:<5}{meaning}\n"));
    }
    text.trim_end().to_owned()
}
