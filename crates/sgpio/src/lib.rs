//! The Aspeed SGPIO master (serial GPIO).
#![deny(missing_docs)]
