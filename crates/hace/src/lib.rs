//! The Aspeed hash and crypto engine (HACE), hash part.
#![deny(missing_docs)]
