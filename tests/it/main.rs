//! Integration tests: the real binary against fake Open Cloud servers (wiremock) and against the
//! embedded emulator, all on loopback.

#[cfg(feature = "emulator")]
mod batch;
#[cfg(feature = "emulator")]
mod classes;
#[cfg(feature = "emulator")]
mod coverage;
#[cfg(feature = "emulator")]
mod datatypes;
#[cfg(feature = "emulator")]
mod emulator;
#[cfg(feature = "emulator")]
mod examples;
mod github;
mod hostile;
mod inputs;
#[cfg(feature = "emulator")]
mod lifetimes;
#[cfg(feature = "emulator")]
mod live;
mod open_cloud;
mod packaging;
#[cfg(feature = "emulator")]
mod place_files;
#[cfg(feature = "emulator")]
mod places;
#[cfg(feature = "emulator")]
mod real_shaped;
#[cfg(feature = "emulator")]
mod report;
#[cfg(feature = "emulator")]
mod results;
#[cfg(feature = "emulator")]
mod services;
#[cfg(feature = "emulator")]
mod shipped;
#[cfg(feature = "emulator")]
mod steal;
mod support;
mod transfers;
#[cfg(feature = "emulator")]
mod warm;
