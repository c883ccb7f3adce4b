//! One thin adapter per subcommand: resolve what to act on, call the store, print.
//! This is the only layer that writes to stdout. Data goes to stdout (a table, or
//! one JSON object per line with `--json`); logs and errors go to stderr.

pub mod burst;
pub mod claim;
pub mod completions;
pub mod generate_secret;
pub mod inspect;
pub mod serve;
mod sse_client;
pub mod subscribe;
pub mod target;
pub mod trim;

use std::io::{self, IsTerminal, Write};

use anyhow::Context;
use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

use crate::cli::StreamTarget;
use crate::config::Settings;
use crate::store::{self, Connector, Store};

/// A usage error found after parsing (a flag that needs another, a value that
/// cannot be resolved): `main` prints it and exits 2, as clap does for its own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// The command was interrupted (Ctrl-C) after saying what it had to say: `main`
/// exits 130 without printing anything more, as shells expect.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// How the user wants output coloured, resolved from `--color` and `NO_COLOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// Colour where the output goes to a terminal.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl Color {
    /// Whether to colour a stream that is (or is not) a terminal.
    pub fn enabled(self, terminal: bool) -> bool {
        match self {
            Color::Auto => terminal,
            Color::Always => true,
            Color::Never => false,
        }
    }

    /// Whether to colour stdout.
    pub fn stdout(self) -> bool {
        self.enabled(io::stdout().is_terminal())
    }

    /// Whether to colour stderr.
    pub fn stderr(self) -> bool {
        self.enabled(io::stderr().is_terminal())
    }
}

/// The next step to suggest when Redis cannot be reached.
pub(crate) const REDIS_HINT: &str = "is Redis running? try --redis HOST:PORT";

/// Connects to the configured Redis, naming the address in the error and, when it
/// cannot be reached, the next step.
pub(crate) async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    let connector = Connector::from_settings(&settings.synchronization.pubsub.redis)?;
    match connector.connect().await {
        Ok(store) => Ok(store),
        Err(err) if err.is_unreachable() => Err(anyhow::anyhow!("{err}; {REDIS_HINT}")),
        Err(err) => Err(err.into()),
    }
}

/// The stream key a [`StreamTarget`] names; with neither a key nor `--sdk-key`,
/// the stream of the default SDK key ([`target::sdk_key`]).
pub(crate) fn stream_of(target: &StreamTarget, settings: &Settings) -> anyhow::Result<String> {
    if target.stream.is_none() && target.sdk_key.is_none() {
        let sdk_key = target::sdk_key(None, settings, &|k| std::env::var(k).ok())?;
        return Ok(store::stream_key(&sdk_key));
    }
    named_stream(target.stream.as_deref(), target.sdk_key.as_deref())
}

/// The stream named by key or by SDK key (`--sdk-key` wins; clap keeps them exclusive).
pub(crate) fn named_stream(stream: Option<&str>, sdk_key: Option<&str>) -> anyhow::Result<String> {
    match (stream, sdk_key) {
        (_, Some(sdk_key)) => Ok(store::stream_key(sdk_key)),
        (Some(stream), None) => Ok(stream.to_owned()),
        (None, None) => anyhow::bail!("no stream given: name a STREAM key or use --sdk-key"),
    }
}

/// Writes text to stdout. A closed pipe (`| head`) surfaces as an `io::Error` of
/// kind `BrokenPipe`, which `main` turns into a quiet exit 0.
pub(crate) fn print(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Writes one JSON object on one line.
pub(crate) fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    print(&serde_json::to_string(value).context("encoding JSON output")?)
}

/// A borderless table in the style of `docker ps`, easy to read and to grep.
pub(crate) fn table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header);
    table
}

/// Whether stdout is a terminal (watch mode clears the screen only then).
pub(crate) fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

/// A millisecond duration for humans: `850ms`, `12.5s`, `3m12s`, `2h5m`, `3d4h`.
pub(crate) fn human_ms(ms: u64) -> String {
    let secs = ms / 1000;
    match ms {
        0..1000 => format!("{ms}ms"),
        1000..60_000 => {
            let tenths = (ms % 1000) / 100;
            if tenths == 0 {
                format!("{secs}s")
            } else {
                format!("{secs}.{tenths}s")
            }
        }
        60_000..3_600_000 => compound(secs / 60, "m", secs % 60, "s"),
        3_600_000..86_400_000 => compound(secs / 3600, "h", (secs % 3600) / 60, "m"),
        _ => compound(secs / 86_400, "d", (secs % 86_400) / 3600, "h"),
    }
}

/// `3m12s`, or `3m` when the smaller unit is zero.
fn compound(big: u64, big_unit: &str, small: u64, small_unit: &str) -> String {
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit}{small}{small_unit}")
    }
}

/// A table's text without the padding comfy-table leaves at line ends.
pub(crate) fn table_text(table: &Table) -> String {
    let text = table.to_string();
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n")
}

/// Shows an optional value, `-` when absent.
pub(crate) fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// Quotes a word for a POSIX shell when it needs it.
pub(crate) fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/=+@%,".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human_ms(0), "0ms");
        assert_eq!(human_ms(999), "999ms");
        assert_eq!(human_ms(12_500), "12.5s");
        assert_eq!(human_ms(30_000), "30s");
        assert_eq!(human_ms(192_000), "3m12s");
        assert_eq!(human_ms(7_500_000), "2h5m");
        assert_eq!(human_ms(60_000), "1m");
        assert_eq!(human_ms(3_600_000), "1h");
        assert_eq!(human_ms(273_600_000), "3d4h");
    }

    #[test]
    fn quoting() {
        assert_eq!(
            shell_quote("stream:optimizely-sync-abc"),
            "stream:optimizely-sync-abc"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
