//! luau-exec: run a Luau script — or a TestEZ/Jest-Lua suite — in a real Roblox server through
//! Open Cloud's Luau Execution API, from CI, and exit with a code that says what happened.
//!
//! The flow, as [`app`] runs it: [`config`] reads and checks every input once (writing the test
//! bootstrap of [`results`] when a suite is asked for) and names the [`config::Target`];
//! `app::backend` gives the [`api::OpenCloud`] client for it (starting [`emulator`], an
//! in-process stand-in for Open Cloud that runs real Luau in the place's instance tree, for
//! `backend: local`); [`runner`] drives one task beside the process's
//! [`interrupt::Interrupt`] and produces a [`report::StepReport`] with the tests the task
//! reported ([`batch`] runs a step's several units, scripts or suite shards, as tasks side by
//! side through the one client and its rate limiter, and merges their reports into one);
//! [`render`] turns events into text for one sink; [`export`] turns the report into its formats
//! (JUnit, lcov, Cobertura, the step outputs and summary) and writes them; [`outcome`] owns the
//! exit codes.

pub mod api;
pub mod app;
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
pub mod live_progress;
pub mod outcome;
pub mod place_reuse;
pub mod poller;
pub mod random;
pub mod render;
pub mod report;
pub mod results;
pub mod roblox;
pub mod runner;
pub mod secret;
pub mod text;
pub mod work_queue;

pub(crate) use app::error_line;
