//! `agentctl completions <shell>`: the completion script, generated from the clap
//! definition (the same one the committed files in `completions/` come from).

use clap_complete::Shell as Generator;

use crate::cli::{self, CompletionsArgs, Shell};

/// The generator for one of our supported shells.
pub fn generator(shell: Shell) -> Generator {
    match shell {
        Shell::Bash => Generator::Bash,
        Shell::Zsh => Generator::Zsh,
        Shell::Fish => Generator::Fish,
        Shell::Powershell => Generator::PowerShell,
        Shell::Elvish => Generator::Elvish,
    }
}

/// Renders the completion script for `shell` into memory.
pub fn render(shell: Shell) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(generator(shell), &mut cli::command(), "agentctl", &mut buf);
    buf
}

/// Prints the script to stdout.
///
/// # Errors
///
/// When stdout cannot be written.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<()> {
    super::print(&String::from_utf8_lossy(&render(args.shell)))
}
