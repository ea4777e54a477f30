//! The Aspeed LPC controller: KCS channels and the port 80 snoop.
#![deny(missing_docs)]
