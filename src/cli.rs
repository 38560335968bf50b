//! Command-line flags. Every run input is also an `INPUT_*` environment variable (see
//! [`crate::config`]); flags win. The API key has no flag: flags show in process listings.

use clap::{Parser, Subcommand};

use crate::config::RunArgs;
use crate::outcome::EXIT_CODES;

/// What `--help` prints after the flags: where inputs come from, and the exit codes from
/// [`EXIT_CODES`] (their one copy).
pub fn after_help() -> String {
    let mut text = String::from(
        "Inputs are read from INPUT_<NAME> environment variables (INPUT_API-KEY or INPUT_API_KEY, …), as
a GitHub Docker action passes them; flags override them. The API key comes only from the
environment (INPUT_API_KEY).

Exit codes:
",
    );
    for (code, meaning) in EXIT_CODES {
        text.push_str(&format!("  {code:<4} {meaning}\n"));
    }
    text.push_str(
        "A step that runs several tasks (several script-path files, or shards) exits with the most
serious of their outcomes.",
    );
    text
}

#[derive(Debug, Parser)]
#[command(name = "luau-exec", version, about = "Run a Luau script in a real Roblox server through Open Cloud, from CI.", after_help = after_help())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded Open Cloud emulator as a standalone server. Its first line of output is
    /// the URL it listens on. Requests need an `x-api-key` header: any non-empty value, or the
    /// value of LUAU_EXEC_SERVE_API_KEY when that is set.
    Serve {
        /// The address to listen on; port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// How many tasks run at once; the rest wait their turn.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
        workers: u16,
        /// Apply Roblox's limits: per-key rate limits (429 with retry-after) and a 10 s lag
        /// before a finished task's slot on its place is free again.
        #[arg(long)]
        roblox_limits: bool,
        /// Hold each task in PROCESSING this long before its script runs, as a server boot
        /// does (`2`, `2s`, `1m`).
        #[arg(long, allow_hyphen_values = true)]
        boot_delay: Option<String>,
        /// How long a connection may take to send a request's headers, and go without a byte
        /// moving either way (default 30s). Hidden: for tests of the timeouts themselves.
        #[arg(long, hide = true)]
        connection_timeout: Option<String>,
        /// How long a place version's server stays warm after a task ends: the next task of
        /// that version within it skips the boot delay (default 10m; 0 boots every task).
        #[arg(long)]
        warm_period: Option<String>,
        /// The scopes the API key has, comma-separated, for the routes that check them (the
        /// memory-store routes; default: every scope), e.g.
        /// `memory-store.sorted-map:read,memory-store.sorted-map:write`.
        #[arg(long, value_delimiter = ',')]
        key_scopes: Option<Vec<String>>,
    },
}
