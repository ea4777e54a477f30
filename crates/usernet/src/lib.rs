//! QEMU-style user-mode networking for the emulated BMC, through libslirp.
//!
//! libslirp (QEMU's user-mode TCP/IP stack, Debian `libslirp-dev`) gives the guest a virtual
//! network: a DHCP server that hands out 10.0.2.15, the host as the gateway 10.0.2.2, a DNS
//! forwarder at 10.0.2.3, NAT of the guest's outgoing connections onto host sockets, and
//! forwarded host ports (`hostfwd`) so that `ssh -p 2222 root@127.0.0.1` reaches the guest's
//! port 22.
//!
//! libslirp is not thread-safe, so [`UserNet::start`] creates the `Slirp` instance on a thread
//! of its own that owns it for its whole life and runs its poll loop (`slirp_pollfds_fill`,
//! `poll(2)`, `slirp_pollfds_poll`) plus its timers. Frames from the guest reach that thread
//! through a bounded channel and an eventfd in the poll set, so [`UserNet::send`] never blocks
//! and a frame is handled at once. Frames for the guest are handed to the `to_guest` callback on
//! that thread.

#![deny(missing_docs)]

mod config;
mod slirp;

pub use config::{
    parse_hostfwd, parse_user_nic, HostFwd, Proto, UserNetConfig, DEFAULT_DHCP_START, DEFAULT_DNS,
    DEFAULT_HOST, DEFAULT_HOSTNAME, DEFAULT_IPV6_PREFIX, DEFAULT_IPV6_PREFIX_LEN, DEFAULT_NETWORK,
    DEFAULT_PREFIX_LEN, MAX_HOSTNAME_LEN,
};
pub use slirp::{UserNet, UserNetStats, ETH_HEADER_LEN, MAX_FRAME_LEN, TX_QUEUE_LEN};
