//! The binary: parse flags, run, exit with the code the run chose.

use std::process::ExitCode;

use clap::Parser;

/// On musl (the static Linux binary), jemalloc instead of musl's malloc: Cargo.toml says why,
/// `.cargo/config.toml` how it is set up.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = luau_exec::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            // No runtime, no run: this is an environment failure, not bad input.
            eprintln_once(&format!(
                "luau-exec: error: cannot start the async runtime: {error}"
            ));
            return ExitCode::from(luau_exec::outcome::Outcome::Unavailable.exit_code());
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    let code = runtime.block_on(luau_exec::app::main_with(cli, &env));
    // Do not wait for blocking work (an emulated script that ignores its deadline) to finish.
    runtime.shutdown_background();
    ExitCode::from(code)
}

fn eprintln_once(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
