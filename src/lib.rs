//! luau-exec: run a Luau script — or a TestEZ/Jest-Lua suite — in a real Roblox server through
//! Open Cloud's Luau Execution API, from CI, and exit with a code that says what happened.
//!
//! The flow: [`config`] reads and checks every input once (writing the test bootstrap of
//! [`results`] when a suite is asked for); [`runner`] drives the API through
//! [`api::OpenCloud`], beside the process's [`interrupt::Interrupt`], and produces a
//! [`report::StepReport`] with the tests the task reported ([`batch`] runs a step's several units,
//! scripts or suite shards, as tasks side by side through the one client and its rate limiter,
//! and merges their reports into one); [`render`] turns events into text for one sink;
//! [`export`] turns the report into its formats (JUnit, lcov, Cobertura, the step outputs and
//! summary) and writes them; [`outcome`] owns the exit codes. [`emulator`] is an in-process stand-in for Open Cloud that runs real Luau in
//! the place's instance tree, reached through the same client.

pub mod api;
pub mod batch;
pub mod cli;
pub mod clock;
pub mod config;
pub mod coverage;
pub mod duration;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod export;
pub mod files;
pub mod interrupt;
pub mod outcome;
pub mod poller;
pub mod random;
pub mod render;
pub mod report;
pub mod results;
pub mod roblox;
pub mod runner;
pub mod secret;
pub mod text;

use std::io::Write;

use crate::api::{OpenCloud, Service};
use crate::cli::{Cli, Command};
use crate::config::{Backend, Config, Inputs, MissingKeyPolicy, OutputFormat};
use crate::interrupt::Interrupt;
use crate::outcome::Outcome;
use crate::render::{Console, Event, Renderer};
use crate::report::{Problem, StepReport};
use crate::secret::Redactor;

/// Runs the command line; returns the exit code.
pub async fn main_with(cli: Cli, env: &dyn Fn(&str) -> Option<String>) -> u8 {
    match cli.command {
        Some(Command::Serve {
            listen,
            workers,
            roblox_limits,
            boot_delay,
            connection_timeout,
        }) => {
            let options = ServeOptions {
                workers: usize::from(workers),
                roblox_limits,
                boot_delay,
                connection_timeout,
            };
            serve(&listen, options, env).await
        }
        None => run_job(&cli.run, env).await,
    }
}

/// One line on stderr, defanged: it may quote an input.
pub(crate) fn error_line(text: &str) {
    let line = render::split_lines(text)
        .into_iter()
        .map(text::defang)
        .collect::<Vec<_>>()
        .join(" ");
    let _ = writeln!(std::io::stderr(), "luau-exec: error: {line}");
}

async fn run_job(args: &config::RunArgs, env: &dyn Fn(&str) -> Option<String>) -> u8 {
    // Listen first: a signal at any point from here on is the run's to report.
    let mut interrupt = Interrupt::listen();
    // Mutable for the local backend, which points the run at the emulator it starts.
    #[cfg_attr(not(feature = "emulator"), allow(unused_mut))]
    let mut config = match config::load(&Inputs::new(args, env)) {
        Ok(config) => config,
        Err(errors) => {
            // Every refused input at once, one line each.
            let github_actions = config::is_github_actions(env);
            for error in &errors.0 {
                let line = error.describe(github_actions);
                error_line(&line);
                if github_actions {
                    // Also as an annotation, so the reason shows on the run's page.
                    let line = render::workflow::annotation(
                        render::workflow::Level::Error,
                        Some("luau-exec: bad input"),
                        &line,
                    );
                    let _ = writeln!(std::io::stdout(), "{line}");
                }
            }
            return Outcome::BadInput.exit_code();
        }
    };
    // The user's key: removed from everything printed or written, whatever a server sends.
    let redactor = config
        .api_key
        .as_ref()
        .map(secret::ApiKey::redactor)
        .unwrap_or_default();
    init_tracing(config.debug, redactor.clone());

    let mut console = Console::new(renderer_for(&config), redactor.clone());
    console.emit(Event::Begin);

    if config.backend == Backend::OpenCloud && config.api_key.is_none() {
        // Only reachable with `on-missing-key: skip`; `fail` is refused as bad input.
        debug_assert_eq!(config.missing_key, MissingKeyPolicy::Skip);
        let mut report = StepReport::new(Outcome::Skipped);
        report.problem = Some(Problem::SkippedNoKey);
        return finish(&config, &mut console, &report, &redactor);
    }

    #[cfg(feature = "emulator")]
    let _emulator = if config.backend == Backend::Local {
        match start_local_backend(&mut config, &mut console).await {
            Ok(running) => Some(running),
            Err(report) => return finish(&config, &mut console, &report, &redactor),
        }
    } else {
        None
    };
    #[cfg(not(feature = "emulator"))]
    if config.backend == Backend::Local {
        let mut report = StepReport::new(Outcome::BadInput);
        report.problem = Some(Problem::BadInput {
            input: "backend",
            problem: "this build has no embedded emulator (built without the `emulator` feature)"
                .into(),
        });
        return finish(&config, &mut console, &report, &redactor);
    }

    let Some(key) = config.api_key.clone() else {
        // Unreachable: the config refuses a missing key, skip returned above, local set one.
        let mut report = StepReport::new(Outcome::BadInput);
        report.problem = Some(Problem::BadInput {
            input: "api-key",
            problem: "is required".into(),
        });
        return finish(&config, &mut console, &report, &redactor);
    };
    let service = match config.backend {
        Backend::OpenCloud => Service::OpenCloud,
        Backend::Local => Service::LocalEmulator,
    };
    let api = match OpenCloud::new(&config.base_url, key, config.timing, service) {
        Ok(api) => api,
        Err(error) => {
            let mut report = StepReport::new(Outcome::Unavailable);
            report.problem = Some(Problem::Api(error));
            return finish(&config, &mut console, &report, &redactor);
        }
    };

    let api = match config.backend {
        // Open Cloud's per-key-owner limits, shared by every request of the step.
        Backend::OpenCloud => {
            api.with_limiter(std::sync::Arc::new(api::Limiter::on_clock(config.timing)))
        }
        Backend::Local => api,
    };
    let report = if config.units.len() > 1 {
        batch::run(&config, &api, &mut console, &mut interrupt).await
    } else {
        runner::run(&config, &api, &mut console, &mut interrupt).await
    };
    finish(&config, &mut console, &report, &redactor)
}

/// The end of every run: coverage judged, the report files written (a failure is exit 11), the
/// end shown on the console, then the GitHub step outputs and summary; the exit code.
fn finish(config: &Config, console: &mut Console, report: &StepReport, redactor: &Redactor) -> u8 {
    let mut report = report.clone();
    if let Some(spec) = &config.coverage {
        measure_coverage(config, spec, &mut report);
    }
    let report = export::write_files(&export::file_exports(config), report, redactor);
    console.emit(Event::Finished(&report));
    export::append_github(&export::github_exports(config), &report, redactor);
    report.outcome.exit_code()
}

/// Completes the step's coverage (modules no test loaded count as never run) and holds it to
/// `coverage-threshold`: below it, a step that otherwise passed fails with its own code.
fn measure_coverage(config: &Config, spec: &coverage::Spec, report: &mut StepReport) {
    #[cfg_attr(not(feature = "emulator"), allow(unused_mut))]
    let mut measured = report
        .coverage
        .take()
        .unwrap_or_else(|| coverage::Coverage::unavailable(coverage::NO_RESULTS));
    // Counting a never-loaded module's lines needs Luau's compiler, which only the emulator has.
    #[cfg(feature = "emulator")]
    coverage::add_never_loaded(
        &mut measured,
        spec,
        config.locator.sourcemap(),
        emulator::coverage::never_run,
    );
    let below = spec
        .threshold
        .and_then(|t| coverage::below_threshold(&measured, t, config.github_actions));
    if let (Some(why), true) = (below, report.outcome.is_success()) {
        report.outcome = Outcome::CoverageBelowThreshold;
        report.problem = Some(Problem::CoverageBelowThreshold(why));
    }
    report.coverage = Some(measured);
}

fn renderer_for(config: &Config) -> Box<dyn Renderer + Send> {
    use std::io::IsTerminal;
    match config.output_format {
        OutputFormat::Github => {
            Box::new(render::github::GithubRenderer::new(config.api_key.clone()))
        }
        OutputFormat::Plain => Box::new(render::plain::PlainRenderer::new(
            config.color && std::io::stdout().is_terminal(),
        )),
        OutputFormat::Json => Box::new(render::json::JsonRenderer),
    }
}

fn init_tracing(debug: bool, redactor: Redactor) {
    // Only this crate's events: dependencies' debug output could include request details.
    let filter = if debug {
        "luau_exec=debug"
    } else {
        "luau_exec=warn"
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(move || render::RedactingWriter::stderr(redactor.clone()))
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false)
        .try_init();
}

/// `backend: local`: starts the emulator on a loopback port and points the run at it with a
/// one-off key. Universe and place IDs default to 1.
#[cfg(feature = "emulator")]
async fn start_local_backend(
    config: &mut Config,
    console: &mut Console,
) -> Result<emulator::RunningEmulator, StepReport> {
    let key = random::random_token("local-");
    let options = emulator::EmulatorOptions {
        api_key: Some(key.clone()),
        // A worker for each task the step runs at once (one, unless it runs several), and a
        // spare.
        workers: config.parallel.max(2),
        ..emulator::EmulatorOptions::default()
    };
    match emulator::start("127.0.0.1:0", options).await {
        Ok(running) => {
            // Its loopback address is an implementation detail, not a service to visit.
            console.emit(Event::Note(
                "backend local: the embedded emulator runs the script with real Luau in the place's instance tree, without the Roblox engine",
            ));
            config.base_url = running.url.clone();
            config.api_key = Some(secret::ApiKey::new(key));
            Ok(running)
        }
        Err(error) => {
            let mut report = StepReport::new(Outcome::Unavailable);
            report.problem = Some(Problem::EmulatorStart(error.to_string()));
            Err(report)
        }
    }
}

/// The flags of `luau-exec serve`, beside `--listen` (read only by a build with the emulator).
#[cfg_attr(not(feature = "emulator"), allow(dead_code))]
struct ServeOptions {
    workers: usize,
    roblox_limits: bool,
    boot_delay: Option<String>,
    connection_timeout: Option<String>,
}

#[cfg(feature = "emulator")]
async fn serve(listen: &str, flags: ServeOptions, env: &dyn Fn(&str) -> Option<String>) -> u8 {
    let parse = |name: &str, text: Option<&str>| {
        text.map(duration::parse_duration)
            .transpose()
            .map_err(|error| error_line(&format!("input `{name}`: {error}")))
    };
    let (Ok(boot_delay), Ok(connection_timeout)) = (
        parse("boot-delay", flags.boot_delay.as_deref()),
        parse("connection-timeout", flags.connection_timeout.as_deref()),
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
async fn serve(_listen: &str, _flags: ServeOptions, _env: &dyn Fn(&str) -> Option<String>) -> u8 {
    error_line("this build has no embedded emulator (built without the `emulator` feature)");
    Outcome::BadInput.exit_code()
}
