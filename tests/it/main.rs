//! Integration tests: the real binary against fake Open Cloud servers (wiremock) and against the
//! embedded emulator, all on loopback.

#[cfg(feature = "emulator")]
mod batch;
#[cfg(feature = "emulator")]
mod emulator;
mod github;
mod hostile;
mod inputs;
mod open_cloud;
#[cfg(feature = "emulator")]
mod place_files;
#[cfg(feature = "emulator")]
mod places;
#[cfg(feature = "emulator")]
mod results;
#[cfg(feature = "emulator")]
mod shipped;
mod support;
mod transfers;
