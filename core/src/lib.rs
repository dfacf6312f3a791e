//! Tillkit's offline point-of-sale core: everything that must be right on the device.
//! It owns storage, tax, sale capture and sync; it never draws UI and has no FFI attributes.

pub mod cart;
pub mod catalog;
pub mod config;
pub mod error;
mod held;
pub mod journal;
pub mod limits;
pub mod metrics;
pub mod money;
pub mod offline_limits;
pub mod outbox;
pub mod refund;
pub mod sale;
pub mod session;
pub mod store;
pub mod sync;
pub mod tax;
#[cfg(feature = "test-support")]
pub mod testing;
mod till;
pub mod time;

pub use config::Config;
pub use error::{Error, Result};
pub use till::Till;
