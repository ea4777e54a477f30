//! The user-mode network's settings and the parser for QEMU-style `--nic user,...` values.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The transport a forwarded port carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// TCP: the host listens and each accepted connection is opened towards the guest.
    Tcp,
    /// UDP: datagrams to the host port are relayed to the guest port.
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// One forwarded port: `host_addr:host_port` on the host reaches `guest_addr:guest_port` in the
/// guest (QEMU's `hostfwd=`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFwd {
    /// TCP or UDP.
    pub proto: Proto,
    /// The host address to listen on; 127.0.0.1 unless the user names another.
    pub host_addr: Ipv4Addr,
    /// The host port to listen on (non-zero).
    pub host_port: u16,
    /// The guest address to forward to; `None` means the first DHCP address
    /// ([`UserNetConfig::dhcp_start`], 10.0.2.15 by default).
    pub guest_addr: Option<Ipv4Addr>,
    /// The guest port to forward to (non-zero).
    pub guest_port: u16,
}

impl fmt::Display for HostFwd {
    /// Writes the forward in QEMU's `hostfwd=` syntax, e.g. `tcp:127.0.0.1:2222-:22`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}-", self.proto, self.host_addr, self.host_port)?;
        if let Some(guest) = self.guest_addr {
            write!(f, "{guest}")?;
        }
        write!(f, ":{}", self.guest_port)
    }
}

/// The default virtual network, 10.0.2.0 (QEMU's `net=` default).
pub const DEFAULT_NETWORK: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 0);
/// The default prefix length of the virtual network (/24).
pub const DEFAULT_PREFIX_LEN: u8 = 24;
/// The default gateway, which is also the host as the guest sees it (QEMU's `host=` default).
pub const DEFAULT_HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// The default DNS forwarder (QEMU's `dns=` default).
pub const DEFAULT_DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
/// The first address the DHCP server hands out (QEMU's `dhcpstart=` default).
pub const DEFAULT_DHCP_START: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
/// The host name the DHCP server gives the guest.
pub const DEFAULT_HOSTNAME: &str = "ast-emu-bmc";
/// The default IPv6 prefix, fec0:: (QEMU's `ipv6-prefix=` default).
pub const DEFAULT_IPV6_PREFIX: Ipv6Addr = Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0);
/// The default IPv6 prefix length (QEMU's `ipv6-prefixlen=` default).
pub const DEFAULT_IPV6_PREFIX_LEN: u8 = 64;
/// The longest host name slirp keeps (its `vhostname` buffer holds 32 characters).
pub const MAX_HOSTNAME_LEN: usize = 32;

/// The settings of one user-mode network. [`Default`] gives QEMU's defaults: network
/// 10.0.2.0/24, gateway/host 10.0.2.2, DNS 10.0.2.3, DHCP from 10.0.2.15, host name
/// "ast-emu-bmc", IPv6 on fec0::/64, no forwarded ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserNetConfig {
    /// Forwarded ports, added in this order.
    pub hostfwd: Vec<HostFwd>,
    /// The virtual IPv4 network address.
    pub network: Ipv4Addr,
    /// The virtual network's prefix length (1..=30).
    pub prefix_len: u8,
    /// The gateway, which is the host as the guest sees it.
    pub host: Ipv4Addr,
    /// The DNS forwarder's address.
    pub dns: Ipv4Addr,
    /// The first address the DHCP server hands out.
    pub dhcp_start: Ipv4Addr,
    /// The host name offered to the guest by DHCP.
    pub hostname: String,
    /// Whether IPv6 (router advertisements on fec0::/64, gateway fec0::2, DNS fec0::3) is on.
    pub ipv6: bool,
    /// Whether slirp's own DHCP server answers (off when another one serves the network, as
    /// a rack's switch does for many BMCs: slirp's keeps 16 leases, in request order).
    pub dhcp: bool,
}

impl Default for UserNetConfig {
    fn default() -> Self {
        UserNetConfig {
            hostfwd: Vec::new(),
            network: DEFAULT_NETWORK,
            prefix_len: DEFAULT_PREFIX_LEN,
            host: DEFAULT_HOST,
            dns: DEFAULT_DNS,
            dhcp_start: DEFAULT_DHCP_START,
            hostname: DEFAULT_HOSTNAME.to_string(),
            ipv6: true,
            dhcp: true,
        }
    }
}

impl UserNetConfig {
    /// The network mask for [`prefix_len`](Self::prefix_len).
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(prefix_mask(self.prefix_len))
    }

    /// Whether `addr` lies in the virtual network.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        let mask = prefix_mask(self.prefix_len);
        u32::from(addr) & mask == u32::from(self.network) & mask
    }

    /// The guest address a forward goes to: its own, or [`dhcp_start`](Self::dhcp_start).
    pub fn guest_addr_of(&self, fwd: &HostFwd) -> Ipv4Addr {
        fwd.guest_addr.unwrap_or(self.dhcp_start)
    }

    /// Checks that the settings make sense together; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=30).contains(&self.prefix_len) {
            return Err(format!(
                "network prefix length /{} is out of range (1..=30)",
                self.prefix_len
            ));
        }
        if u32::from(self.network) & !prefix_mask(self.prefix_len) != 0 {
            return Err(format!(
                "network {}/{} has host bits set",
                self.network, self.prefix_len
            ));
        }
        for (what, addr) in [
            ("host (gateway)", self.host),
            ("DNS", self.dns),
            ("DHCP start", self.dhcp_start),
        ] {
            if !self.contains(addr) {
                return Err(format!(
                    "{what} address {addr} is outside the network {}/{}",
                    self.network, self.prefix_len
                ));
            }
        }
        if self.host == self.dns {
            return Err(format!(
                "host and DNS must be different addresses (both {})",
                self.host
            ));
        }
        if self.hostname.len() > MAX_HOSTNAME_LEN
            || self.hostname.contains('\0')
            || self.hostname.contains(',')
        {
            return Err(format!(
                "host name {:?} must be at most {MAX_HOSTNAME_LEN} characters with no NUL or comma",
                self.hostname
            ));
        }
        for (i, fwd) in self.hostfwd.iter().enumerate() {
            if fwd.host_port == 0 || fwd.guest_port == 0 {
                return Err(format!("hostfwd {fwd}: ports must be non-zero"));
            }
            let guest = self.guest_addr_of(fwd);
            if !self.contains(guest) {
                return Err(format!(
                    "hostfwd {fwd}: guest address {guest} is outside the network {}/{}",
                    self.network, self.prefix_len
                ));
            }
            if let Some(earlier) = self.hostfwd[..i].iter().find(|e| {
                e.proto == fwd.proto && e.host_port == fwd.host_port && e.host_addr == fwd.host_addr
            }) {
                return Err(format!(
                    "hostfwd {fwd}: host port {} is already forwarded by {earlier}",
                    fwd.host_port
                ));
            }
        }
        Ok(())
    }
}

fn prefix_mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        n if n >= 32 => u32::MAX,
        n => u32::MAX << (32 - u32::from(n)),
    }
}

/// Parses a QEMU-style `--nic` value: `user`, optionally followed by comma-separated options.
///
/// Options: `hostfwd=[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport` (any number; an empty
/// protocol means tcp, an empty host address 127.0.0.1, an empty guest address the DHCP start
/// address), `net=ADDR/LEN`, `host=ADDR`, `dns=ADDR`, `dhcpstart=ADDR`, `hostname=NAME`,
/// `ipv6=on|off`. Example: `user,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp::8080-:80`.
pub fn parse_user_nic(spec: &str) -> Result<UserNetConfig, String> {
    let spec = spec.trim();
    let mut parts = spec.split(',');
    match parts.next() {
        Some("user") => {}
        Some("") | None => return Err("empty --nic value: expected \"user[,hostfwd=...]\"".into()),
        Some(other) => {
            return Err(format!(
                "unsupported --nic type {other:?}: this backend is \"user\" (e.g. user,hostfwd=tcp::2222-:22)"
            ))
        }
    }
    let mut config = UserNetConfig::default();
    for option in parts {
        let (key, value) = option
            .split_once('=')
            .ok_or_else(|| format!("--nic option {option:?} is not of the form key=value"))?;
        match key {
            "hostfwd" => config.hostfwd.push(parse_hostfwd(value)?),
            "net" => {
                let (addr, len) = match value.split_once('/') {
                    Some((addr, len)) => (addr, Some(len)),
                    None => (value, None),
                };
                config.network = parse_ipv4("net", addr)?;
                config.prefix_len = match len {
                    None => DEFAULT_PREFIX_LEN,
                    Some(len) => len.parse().map_err(|_| {
                        format!("net={value}: prefix length {len:?} is not a number")
                    })?,
                };
            }
            "host" => config.host = parse_ipv4("host", value)?,
            "dns" => config.dns = parse_ipv4("dns", value)?,
            "dhcpstart" => config.dhcp_start = parse_ipv4("dhcpstart", value)?,
            "hostname" => config.hostname = value.to_string(),
            "ipv6" => {
                config.ipv6 = match value {
                    "on" | "yes" | "true" => true,
                    "off" | "no" | "false" => false,
                    _ => return Err(format!("ipv6={value}: expected on or off")),
                }
            }
            _ => {
                return Err(format!(
                    "unknown --nic user option {key:?} (supported: hostfwd, net, host, dns, dhcpstart, hostname, ipv6)"
                ))
            }
        }
    }
    config.validate()?;
    Ok(config)
}

fn parse_ipv4(what: &str, text: &str) -> Result<Ipv4Addr, String> {
    text.parse().map_err(|_| {
        if text.contains(':') || text.starts_with('[') {
            format!("{what}: {text:?} is not an IPv4 address (IPv6 is not supported here)")
        } else {
            format!("{what}: {text:?} is not an IPv4 address")
        }
    })
}

fn parse_port(what: &str, text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(0) => Err(format!("{what} must not be 0")),
        Ok(port) => Ok(port),
        Err(_) if text.is_empty() => Err(format!("{what} is missing")),
        Err(_) => Err(format!("{what} {text:?} is not a port number (1..=65535)")),
    }
}

/// Parses one `hostfwd=` value: `[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport`.
pub fn parse_hostfwd(value: &str) -> Result<HostFwd, String> {
    let syntax = |why: &str| {
        format!(
            "hostfwd={value}: {why}; expected [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport"
        )
    };
    let (host_side, guest_side) = value
        .split_once('-')
        .ok_or_else(|| syntax("no '-' between the host and guest sides"))?;
    let host_fields: Vec<&str> = host_side.split(':').collect();
    let [proto, host_addr, host_port] = host_fields[..] else {
        return Err(syntax("the host side needs proto:addr:port"));
    };
    let (guest_addr, guest_port) = guest_side
        .split_once(':')
        .ok_or_else(|| syntax("the guest side needs addr:port (the address may be empty)"))?;
    let context = |e: String| format!("hostfwd={value}: {e}");
    let proto = match proto {
        "" | "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        other => return Err(context(format!("protocol {other:?} is not tcp or udp"))),
    };
    let host_addr = if host_addr.is_empty() {
        Ipv4Addr::LOCALHOST
    } else {
        parse_ipv4("host address", host_addr).map_err(context)?
    };
    let guest_addr = if guest_addr.is_empty() {
        None
    } else {
        Some(parse_ipv4("guest address", guest_addr).map_err(context)?)
    };
    Ok(HostFwd {
        proto,
        host_addr,
        host_port: parse_port("host port", host_port).map_err(context)?,
        guest_addr,
        guest_port: parse_port("guest port", guest_port).map_err(context)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_user_gives_qemu_defaults() {
        let config = parse_user_nic("user").unwrap();
        assert_eq!(config, UserNetConfig::default());
        assert!(config.hostfwd.is_empty());
        assert_eq!(config.network, Ipv4Addr::new(10, 0, 2, 0));
        assert_eq!(config.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(config.host, Ipv4Addr::new(10, 0, 2, 2));
        assert_eq!(config.dns, Ipv4Addr::new(10, 0, 2, 3));
        assert_eq!(config.dhcp_start, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(config.hostname, "ast-emu-bmc");
    }

    #[test]
    fn hostfwd_forms_from_the_brief() {
        let config = parse_user_nic(
            "user,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp::8080-:80,hostfwd=udp:0.0.0.0:5353-10.0.2.15:53",
        )
        .unwrap();
        assert_eq!(
            config.hostfwd,
            vec![
                HostFwd {
                    proto: Proto::Tcp,
                    host_addr: Ipv4Addr::LOCALHOST,
                    host_port: 2222,
                    guest_addr: None,
                    guest_port: 22
                },
                HostFwd {
                    proto: Proto::Tcp,
                    host_addr: Ipv4Addr::LOCALHOST,
                    host_port: 8080,
                    guest_addr: None,
                    guest_port: 80
                },
                HostFwd {
                    proto: Proto::Udp,
                    host_addr: Ipv4Addr::UNSPECIFIED,
                    host_port: 5353,
                    guest_addr: Some(Ipv4Addr::new(10, 0, 2, 15)),
                    guest_port: 53
                },
            ]
        );
        assert_eq!(
            config.guest_addr_of(&config.hostfwd[0]),
            Ipv4Addr::new(10, 0, 2, 15)
        );
        assert_eq!(config.hostfwd[0].to_string(), "tcp:127.0.0.1:2222-:22");
        assert_eq!(
            config.hostfwd[2].to_string(),
            "udp:0.0.0.0:5353-10.0.2.15:53"
        );
    }

    #[test]
    fn empty_protocol_means_tcp_and_display_round_trips() {
        let fwd = parse_hostfwd(":10.1.2.3:80-10.0.2.20:8080").unwrap();
        assert_eq!(fwd.proto, Proto::Tcp);
        assert_eq!(fwd.host_addr, Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(fwd.guest_addr, Some(Ipv4Addr::new(10, 0, 2, 20)));
        assert_eq!(parse_hostfwd(&fwd.to_string()).unwrap(), fwd);
    }

    #[test]
    fn other_options_set_the_network() {
        let config = parse_user_nic(
            "user,net=192.168.76.0/24,host=192.168.76.1,dns=192.168.76.53,dhcpstart=192.168.76.100,hostname=bmc,ipv6=off",
        )
        .unwrap();
        assert_eq!(config.network, Ipv4Addr::new(192, 168, 76, 0));
        assert_eq!(config.host, Ipv4Addr::new(192, 168, 76, 1));
        assert_eq!(config.dns, Ipv4Addr::new(192, 168, 76, 53));
        assert_eq!(config.dhcp_start, Ipv4Addr::new(192, 168, 76, 100));
        assert_eq!(config.hostname, "bmc");
        assert!(!config.ipv6);
    }

    fn error_of(spec: &str) -> String {
        match parse_user_nic(spec) {
            Ok(config) => panic!("{spec:?} parsed as {config:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn bad_specs_give_clear_errors() {
        assert!(error_of("").contains("empty"));
        assert!(error_of("tap,ifname=tap0").contains("unsupported --nic type \"tap\""));
        assert!(error_of("user,hostfwd").contains("key=value"));
        assert!(error_of("user,foo=bar").contains("unknown --nic user option \"foo\""));
        assert!(error_of("user,hostfwd=tcp:127.0.0.1:2222").contains("no '-'"));
        assert!(error_of("user,hostfwd=tcp:2222-:22").contains("proto:addr:port"));
        assert!(error_of("user,hostfwd=tcp::2222-22").contains("guest side"));
        assert!(error_of("user,hostfwd=sctp::2222-:22").contains("\"sctp\" is not tcp or udp"));
        assert!(error_of("user,hostfwd=tcp:localhost:2222-:22").contains("not an IPv4 address"));
        assert!(error_of("user,hostfwd=tcp:1.2.3:2222-:22").contains("not an IPv4 address"));
        assert!(error_of("user,hostfwd=tcp::70000-:22").contains("not a port number"));
        assert!(error_of("user,hostfwd=tcp::0-:22").contains("must not be 0"));
        assert!(error_of("user,hostfwd=tcp::2222-:").contains("guest port is missing"));
        assert!(error_of("user,hostfwd=tcp::2222-:ssh").contains("not a port number"));
        assert!(error_of("user,hostfwd=tcp::2222-192.168.1.5:22").contains("outside the network"));
        assert!(
            error_of("user,hostfwd=tcp::2222-:22,hostfwd=tcp:127.0.0.1:2222-:23")
                .contains("already forwarded")
        );
        assert!(error_of("user,net=10.0.2.0/33").contains("prefix length"));
        assert!(error_of("user,net=10.0.2.1/24").contains("host bits"));
        assert!(error_of("user,dns=10.0.3.3").contains("outside the network"));
        assert!(
            error_of("user,hostname=a-very-long-host-name-that-slirp-would-cut")
                .contains("at most 32")
        );
        assert!(error_of("user,ipv6=maybe").contains("on or off"));
    }

    #[test]
    fn same_port_on_different_protocols_is_allowed() {
        let config = parse_user_nic("user,hostfwd=tcp::5353-:53,hostfwd=udp::5353-:53").unwrap();
        assert_eq!(config.hostfwd.len(), 2);
    }
}
