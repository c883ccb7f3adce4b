//! Generated artifacts: shell completions, man pages and Markdown reference pages
//! are rendered from the clap definition and must match the committed files.
//! `AGENTCTL_BLESS=1 cargo test --test integration generated` rewrites them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use agentctl::cli::{self, Shell};

/// Help is rendered at a fixed width so the pages do not depend on the terminal.
const WIDTH: usize = 100;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn command() -> clap::Command {
    let mut cmd = cli::command().term_width(WIDTH).max_term_width(WIDTH);
    cmd.build();
    cmd
}

/// Every expected file, by path relative to the repository root.
fn expected() -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for (shell, name) in [
        (Shell::Bash, "agentctl.bash"),
        (Shell::Zsh, "_agentctl"),
        (Shell::Fish, "agentctl.fish"),
        (Shell::Powershell, "_agentctl.ps1"),
        (Shell::Elvish, "agentctl.elv"),
    ] {
        files.insert(
            Path::new("completions").join(name),
            agentctl::cmd::completions::render(shell),
        );
    }
    let cmd = command();
    files.insert(
        PathBuf::from("commands/man/agentctl.1"),
        man(&cmd, "agentctl"),
    );
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("agentctl-{}", sub.get_name());
        files.insert(
            PathBuf::from(format!("commands/{name}.md")),
            markdown(&name, sub).into_bytes(),
        );
        // Examples and exit status get sections of their own, not EXTRA.
        let page = sub
            .clone()
            .display_name(name.clone())
            .bin_name(name.clone())
            .after_long_help(Option::<&'static str>::None);
        files.insert(
            PathBuf::from(format!("commands/man/{name}.1")),
            man(&page, sub.get_name()),
        );
    }
    files
}

/// The man page of `cmd`, with EXAMPLES and EXIT STATUS sections from
/// [`cli::examples`] and [`cli::exit_status`] of `key`, placed before VERSION as
/// man-pages(7) orders them.
fn man(cmd: &clap::Command, key: &str) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out).unwrap();
    let page = String::from_utf8(out).unwrap();
    let mut sections = String::from(".SH EXAMPLES\n");
    for example in cli::examples(key) {
        sections.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            roff(example.command),
            roff(example.meaning)
        ));
    }
    sections.push_str(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in cli::exit_status(key) {
        sections.push_str(&format!(".TP\n\\fB{code}\\fR\n{}\n", roff(meaning)));
    }
    let page = match page.find(".SH VERSION") {
        Some(at) => format!("{}{sections}{}", &page[..at], &page[at..]),
        None => format!("{page}{sections}"),
    };
    page.into_bytes()
}

/// Text as roff prints it literally: backslashes and hyphens escaped, and a
/// leading `.` or `'` kept from being read as a request.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[test]
fn man_pages_have_examples_and_exit_status() {
    let cmd = command();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let page = String::from_utf8(man(sub, sub.get_name())).unwrap();
        assert!(page.contains(".SH EXAMPLES\n.TP\n"), "{}", sub.get_name());
        assert!(
            page.contains(".SH \"EXIT STATUS\"\n.TP\n\\fB0\\fR\n"),
            "{}",
            sub.get_name()
        );
        assert!(
            page.contains("\\fB2\\fR\nUsage error"),
            "{}",
            sub.get_name()
        );
    }
    let top = String::from_utf8(man(&cmd, "agentctl")).unwrap();
    assert!(
        top.contains("\\fBagentctl subscribe \\-\\-filter decision\\fR"),
        "{top}"
    );
}

fn help(cmd: &clap::Command) -> String {
    let text = cmd.clone().term_width(WIDTH).render_long_help().to_string();
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A reference page: the long help of the subcommand and of each of its own
/// subcommands, as `--help` prints them.
fn markdown(name: &str, cmd: &clap::Command) -> String {
    let title = name.replace('-', " ");
    let mut page = format!(
        "# {title}\n\n<!-- Generated from the clap definition by tests/generated.rs; do not edit. -->\n\n{}\n\n```text\n$ {title} --help\n{}\n```\n",
        cmd.get_about().map(ToString::to_string).unwrap_or_default(),
        help(cmd)
    );
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        page.push_str(&format!(
            "\n## {title} {}\n\n```text\n$ {title} {} --help\n{}\n```\n",
            sub.get_name(),
            sub.get_name(),
            help(sub)
        ));
    }
    page
}

/// Files currently committed under the generated directories.
fn committed() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in ["completions", "commands", "commands/man"] {
        let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                found.push(path.strip_prefix(root()).unwrap().to_path_buf());
            }
        }
    }
    found
}

#[test]
fn generated_files_are_up_to_date() {
    let expected = expected();
    let bless = std::env::var_os("AGENTCTL_BLESS").is_some_and(|v| v == "1");
    let mut problems = Vec::new();
    for (path, content) in &expected {
        let full = root().join(path);
        if std::fs::read(&full).ok().as_deref() != Some(content.as_slice()) {
            if bless {
                std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                std::fs::write(&full, content).unwrap();
            } else {
                problems.push(format!("stale or missing: {}", path.display()));
            }
        }
    }
    for path in committed() {
        if !expected.contains_key(&path) {
            if bless {
                std::fs::remove_file(root().join(&path)).unwrap();
            } else {
                problems.push(format!("not generated any more: {}", path.display()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}\nregenerate with: AGENTCTL_BLESS=1 cargo test --test integration generated",
        problems.join("\n")
    );
}

#[test]
fn completion_subcommand_prints_the_committed_script() {
    let run = crate::harness::Agentctl::new()
        .run(&["completions", "bash"])
        .ok();
    let committed = std::fs::read_to_string(root().join("completions/agentctl.bash")).unwrap();
    assert_eq!(run.stdout.trim_end(), committed.trim_end());
}
