//! Roblox Open Cloud's Luau Execution API: wire types, the HTTP client, its retry policy and
//! its errors.

pub mod body;
pub mod client;
pub mod error;
pub mod limiter;
pub mod model;
pub mod retry;
pub mod url;

pub use client::{OpenCloud, Progress};
pub use error::{ApiError, Operation, Service};
pub use limiter::{Bucket, Limiter};
