//! Integration tests: the real binary against fake Open Cloud servers (wiremock) and against the
//! embedded emulator, all on loopback.

#[cfg(feature = "emulator")]
mod emulator;
mod github;
mod inputs;
mod open_cloud;
mod support;
mod transfers;
