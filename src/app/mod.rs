//! The application: one command line, from inputs to exit code.
//!
//! A run is prepare → connect → run the step → finish: [`crate::config`] reads and checks
//! every input (or every refused one is said, exit 2); `backend` gives the client for the
//! target (starting the embedded emulator for `backend: local`); the step runs its tasks; the
//! end judges coverage, writes the report files ([`crate::export`]), shows the end on the
//! console and appends the GitHub step files. [`crate::outcome::Outcome`] gives the code.

mod backend;

use std::io::Write;

use crate::cli::{Cli, Command};
use crate::config::{self, Inputs, OutputFormat, Plan, RunArgs};
use crate::interrupt::Interrupt;
use crate::outcome::Outcome;
use crate::render::{self, Console, Event, Renderer};
use crate::report::{Problem, StepReport};
use crate::secret::{ApiKey, Redactor};
use crate::{batch, coverage, export, text};

/// Runs the command line; returns the exit code. Once per process: the process exits next.
pub async fn main_with(cli: Cli, env: &dyn Fn(&str) -> Option<String>) -> u8 {
    match cli.command {
        Some(Command::Serve {
            listen,
            workers,
            roblox_limits,
            boot_delay,
            connection_timeout,
            warm_period,
            key_scopes,
        }) => {
            let options = backend::ServeOptions {
                workers: usize::from(workers),
                roblox_limits,
                boot_delay,
                connection_timeout,
                warm_period,
                key_scopes,
            };
            backend::serve(&listen, options, env).await
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

async fn run_job(args: &RunArgs, env: &dyn Fn(&str) -> Option<String>) -> u8 {
    // Listen first: a signal at any point from here on is the run's to report.
    let mut interrupt = Interrupt::listen();
    let config = match config::load(&Inputs::new(args, env)) {
        Ok(config) => config,
        Err(errors) => return refuse(&errors, config::is_github_actions(env)),
    };
    // The user's key: removed from everything printed or written, whatever a server sends.
    let redactor = config
        .target
        .secret()
        .map(ApiKey::redactor)
        .unwrap_or_default();
    init_tracing(config.debug, redactor.clone());

    let mut console = Console::new(renderer_for(&config), redactor.clone());
    console.emit(Event::Begin);
    let report = match backend::connect(&config, &mut console).await {
        Ok(api) => batch::step(&config, &api, &mut console, &mut interrupt).await,
        Err(unstarted) => {
            let mut report = StepReport::new(unstarted.outcome);
            report.problem = Some(unstarted.problem);
            report
        }
    };
    finish(&config, &mut console, report, &redactor)
}

/// Every refused input at once, one line each (and an annotation each on GitHub); exit 2.
fn refuse(errors: &config::ConfigErrors, github_actions: bool) -> u8 {
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
    Outcome::BadInput.exit_code()
}

/// The end of every run: coverage judged, the report files written (a failure is exit 11), the
/// end shown on the console, then the GitHub step outputs and summary; the exit code.
fn finish(config: &Plan, console: &mut Console, mut report: StepReport, redactor: &Redactor) -> u8 {
    if let Some(spec) = &config.coverage {
        measure_coverage(config, spec, &mut report);
    }
    let report = export::write_files(&export::file_exports(config), report, redactor);
    console.emit(Event::Finished(&report));
    export::append_github(&export::github_exports(config), &report, redactor);
    let code = report.outcome.exit_code();
    // The process exits with this code next: a suite's report (thousands of tests, each a few
    // allocations) is left for the system to take back at once rather than freed one by one.
    std::mem::forget(report);
    code
}

/// Completes the step's coverage (modules no test loaded count as never run) and holds it to
/// `coverage-threshold`: below it, a step that otherwise passed fails with its own code.
fn measure_coverage(config: &Plan, spec: &coverage::Spec, report: &mut StepReport) {
    let mut measured = report
        .coverage
        .take()
        .unwrap_or_else(|| coverage::Coverage::unavailable(coverage::NO_RESULTS));
    backend::add_never_loaded(&mut measured, spec, config.locator.sourcemap());
    let below = spec
        .threshold
        .and_then(|t| coverage::below_threshold(&measured, t, config.github_actions));
    if let (Some(why), true) = (below, report.outcome.is_success()) {
        report.outcome = Outcome::CoverageBelowThreshold;
        report.problem = Some(Problem::CoverageBelowThreshold(why));
    }
    report.coverage = Some(measured);
}

fn renderer_for(config: &Plan) -> Box<dyn Renderer + Send> {
    use std::io::IsTerminal;
    match config.output_format {
        OutputFormat::Github => Box::new(render::github::GithubRenderer::new(
            config.target.secret().cloned(),
        )),
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
