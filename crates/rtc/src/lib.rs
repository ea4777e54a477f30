//! The Aspeed real-time clock.
#![deny(missing_docs)]
