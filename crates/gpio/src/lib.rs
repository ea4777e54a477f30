//! The Aspeed GPIO controllers (parallel GPIO banks).
#![deny(missing_docs)]
