//! The Aspeed ADC engines.
#![deny(missing_docs)]
