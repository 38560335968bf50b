//! The backend a run talks to, and everything that depends on whether this build embeds the
//! emulator: the ONLY `cfg(feature = "emulator")` outside `src/emulator/` (besides its module
//! line in `lib.rs`). Each gated function has its no-emulator twin beside it, with the same
//! signature, so the rest of the application never asks which build it is.
//!
//! - [`connect`]: the client for the config's [`Target`], starting the local emulator for
//!   `backend: local`;
//! - [`serve`]: `luau-exec serve`;
//! - [`add_never_loaded`]: coverage of the modules no test loaded, which needs Luau's compiler.

use std::sync::Arc;

use crate::api::{Limiter, OpenCloud, Service};
use crate::clock::Timing;
use crate::config::{Plan, Target};
use crate::coverage;
use crate::outcome::Outcome;
use crate::render::Sink;
use crate::report::Problem;
use crate::results::Sourcemap;
use crate::secret::ApiKey;
// What only the emulator's side uses.
#[cfg(feature = "emulator")]
use {
    crate::{config, duration, emulator, interrupt, random, render::Event},
    std::io::Write,
};

use super::error_line;

/// The client the step runs through, for the config's target; or how a run ends before any
/// request (skipped, no emulator in this build, a client that cannot start).
pub async fn connect(config: &Plan, console: &mut dyn Sink) -> Result<OpenCloud, Unstarted> {
    match &config.target {
        Target::Skipped { why } => Err(ended(Outcome::Skipped, Problem::Skipped(why))),
        Target::OpenCloud { key, base_url } => {
            let api = client(base_url, key.clone(), config.timing, Service::OpenCloud)?;
            // Open Cloud's per-key-owner limits, shared by every request of the step.
            Ok(api.with_limiter(Arc::new(Limiter::on_clock(config.timing))))
        }
        Target::Local { .. } => start_local(config, console).await,
    }
}

fn client(
    base_url: &reqwest::Url,
    key: ApiKey,
    timing: Timing,
    service: Service,
) -> Result<OpenCloud, Unstarted> {
    OpenCloud::new(base_url, key, timing, service)
        .map_err(|error| ended(Outcome::Unavailable, Problem::Api(error)))
}

/// Why a run ends before any request: how it ends, and why.
#[derive(Debug)]
pub struct Unstarted {
    pub outcome: Outcome,
    pub problem: Problem,
}

fn ended(outcome: Outcome, problem: Problem) -> Unstarted {
    Unstarted { outcome, problem }
}

/// `backend: local`: starts the emulator on a loopback port, and a client for it with a
/// one-off key. Universe and place IDs default to 1.
#[cfg(feature = "emulator")]
async fn start_local(config: &Plan, console: &mut dyn Sink) -> Result<OpenCloud, Unstarted> {
    let key = random::random_token("local-");
    let options = emulator::EmulatorOptions {
        api_key: Some(key.clone()),
        // A worker for each task the step runs at once (one, unless it runs several), and a
        // spare.
        workers: config.parallel.max(2),
        ..emulator::EmulatorOptions::default()
    };
    // It serves in the background for the rest of the process.
    let running = emulator::start("127.0.0.1:0", options)
        .await
        .map_err(|error| {
            ended(
                Outcome::Unavailable,
                Problem::EmulatorStart(error.to_string()),
            )
        })?;
    // Its loopback address is an implementation detail, not a service to visit.
    console.emit(Event::Note(
        "backend local: the embedded emulator runs the script with real Luau in the place's instance tree, without the Roblox engine",
    ));
    let api = client(
        &running.url,
        ApiKey::new(key),
        config.timing,
        Service::LocalEmulator,
    )?;
    Ok(api.with_task_changes(running.task_changes))
}

#[cfg(not(feature = "emulator"))]
async fn start_local(_config: &Plan, _console: &mut dyn Sink) -> Result<OpenCloud, Unstarted> {
    Err(ended(
        Outcome::BadInput,
        Problem::BadInput {
            input: "backend",
            problem: "this build has no embedded emulator (built without the `emulator` feature)"
                .into(),
        },
    ))
}

/// Counts the lines of the modules no test loaded as never run. Counting them needs Luau's
/// compiler, which only the emulator has.
#[cfg(feature = "emulator")]
pub fn add_never_loaded(
    measured: &mut coverage::Coverage,
    spec: &coverage::Spec,
    sourcemap: Option<&Sourcemap>,
) {
    coverage::add_never_loaded(measured, spec, sourcemap, emulator::coverage::never_run);
}

/// Without the emulator, modules no test loaded stay out of the measure.
#[cfg(not(feature = "emulator"))]
pub fn add_never_loaded(
    _measured: &mut coverage::Coverage,
    _spec: &coverage::Spec,
    _sourcemap: Option<&Sourcemap>,
) {
}

/// The flags of `luau-exec serve`, beside `--listen` (read only by a build with the emulator).
#[cfg_attr(not(feature = "emulator"), allow(dead_code))]
pub struct ServeOptions {
    pub workers: usize,
    pub roblox_limits: bool,
    pub boot_delay: Option<String>,
    pub connection_timeout: Option<String>,
    pub warm_period: Option<String>,
    pub key_scopes: Option<Vec<String>>,
}

/// `luau-exec serve`: the emulator as a standalone server, until a signal. Its first line of
/// output is the URL it listens on.
#[cfg(feature = "emulator")]
pub async fn serve(listen: &str, flags: ServeOptions, env: &dyn Fn(&str) -> Option<String>) -> u8 {
    let parse = |name: &str, text: Option<&str>| {
        text.map(duration::parse_duration)
            .transpose()
            .map_err(|error| error_line(&format!("input `{name}`: {error}")))
    };
    let (Ok(boot_delay), Ok(connection_timeout), Ok(warm_period)) = (
        parse("boot-delay", flags.boot_delay.as_deref()),
        parse("connection-timeout", flags.connection_timeout.as_deref()),
        parse("warm-period", flags.warm_period.as_deref()),
    ) else {
        return Outcome::BadInput.exit_code();
    };
    let boot_delay = boot_delay.unwrap_or_default();
    let limits = if flags.roblox_limits {
        emulator::RobloxLimits::roblox(boot_delay)
    } else {
        emulator::RobloxLimits {
            boot_delay,
            ..emulator::RobloxLimits::default()
        }
    };
    let defaults = emulator::EmulatorOptions::default();
    let options = emulator::EmulatorOptions {
        api_key: config::serve_api_key(env),
        workers: flags.workers,
        limits,
        connection_timeout: connection_timeout
            .filter(|t| !t.is_zero())
            .unwrap_or(defaults.connection_timeout),
        warm_period: warm_period.unwrap_or(defaults.warm_period),
        key_scopes: flags.key_scopes,
        ..defaults
    };
    match emulator::start(listen, options).await {
        Ok(running) => {
            let _ = writeln!(
                std::io::stdout(),
                "{}",
                running.url.as_str().trim_end_matches('/')
            );
            let _ = std::io::stdout().flush();
            interrupt::wait_for_signal().await;
            Outcome::Complete.exit_code()
        }
        Err(error) => {
            error_line(&format!(
                "input `listen`: cannot listen on {listen}: {error}"
            ));
            Outcome::BadInput.exit_code()
        }
    }
}

#[cfg(not(feature = "emulator"))]
pub async fn serve(
    _listen: &str,
    _flags: ServeOptions,
    _env: &dyn Fn(&str) -> Option<String>,
) -> u8 {
    error_line("this build has no embedded emulator (built without the `emulator` feature)");
    Outcome::BadInput.exit_code()
}
