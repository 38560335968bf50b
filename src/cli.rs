//! Command-line flags. Every run input is also an `INPUT_*` environment variable (see
//! [`crate::config`]); flags win. The API key has no flag: flags show in process listings.

use clap::{Parser, Subcommand};

use crate::config::RunArgs;

const AFTER_HELP: &str = "\
Inputs are read from INPUT_<NAME> environment variables (INPUT_API-KEY or INPUT_API_KEY, …), as
a GitHub Docker action passes them; flags override them. The API key comes only from the
environment (INPUT_API_KEY).

Exit codes:
  0    COMPLETE (or skipped: no API key and on-missing-key=skip)
  1    FAILED with SCRIPT_ERROR
  2    bad input; nothing was sent
  3    FAILED with DEADLINE_EXCEEDED
  4    FAILED with OUTPUT_SIZE_LIMIT_EXCEEDED
  5    FAILED with INTERNAL_ERROR, ERROR_CODE_UNSPECIFIED or an unknown code; unknown terminal state
  6    CANCELLED
  7    Open Cloud (or the local emulator) rejected a request (400, 401, 403, 404, 409, a redirect)
  8    Open Cloud unreachable or failing past the retry budget; a create of unknown fate
  9    wait-timeout passed with the task still running (or its binary output downloading, or
       no task could be created: the place stayed full)
  10   COMPLETE, but tests failed, none were found or matched test-name-pattern, the framework or
       a test root is not in the place, or their results could not be read
  11   a file could not be written on this machine (binary-output, junit-path, coverage reports)
  12   everything else passed, but the share of lines run is below coverage-threshold (or
       coverage could not be measured)
  130  interrupted by SIGINT
  143  interrupted by SIGTERM
A step that runs several tasks (several script-path files, or shards) exits with the most
serious of their outcomes.";

#[derive(Debug, Parser)]
#[command(name = "luau-exec", version, about = "Run a Luau script in a real Roblox server through Open Cloud, from CI.", after_help = AFTER_HELP)]
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
    },
}
