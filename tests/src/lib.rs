//! Support for Tillkit's end-to-end sync tests: a real server on loopback, real tills, and
//! a fault-injecting proxy between them. Test code only; nothing here ships.

pub mod chaos;
pub mod child;
pub mod fixtures;
pub mod outage;
pub mod proxy;
pub mod tls;
