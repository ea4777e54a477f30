//! A DHCP server (RFC 2131, options from RFC 2132) for the switch's IPv4 network.
//!
//! The switch joins many emulated BMCs to one user-mode network whose own DHCP server is off;
//! this server takes its place. Each BMC's MAC address can have a [`Reservation`] (its address
//! and host name); other clients get addresses from a pool. The server works on whole Ethernet
//! frames (no FCS): [`DhcpServer::is_dhcp_client_frame`] tells the switch which frames to hand
//! over, and [`DhcpServer::handle`] answers them with complete reply frames that come from the
//! gateway's MAC address, as if the user-mode network had answered.
//!
//! Leases last as long as the server: they never expire, but replies still carry the configured
//! lease time so that clients renew (and learn of a changed configuration) now and then. A client
//! is known by its hardware address (`chaddr`); the client identifier (option 61) is ignored.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::Ipv4Addr;

/// The length of an Ethernet II header: destination, source and EtherType.
const ETH_HEADER_LEN: usize = 14;
/// The offset of the EtherType in an Ethernet II header.
const ETH_TYPE_OFFSET: usize = 12;
/// The EtherType of IPv4.
const ETHERTYPE_IPV4: u16 = 0x0800;
/// The Ethernet broadcast address.
const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// The IP version in the first nibble of an IPv4 header.
const IPV4_VERSION: u8 = 4;
/// The length of an IPv4 header without options (IHL 5).
const IPV4_MIN_HEADER_LEN: usize = 20;
/// The offset of the total length in an IPv4 header.
const IPV4_TOTAL_LEN_OFFSET: usize = 2;
/// The offset of the flags and fragment offset in an IPv4 header.
const IPV4_FRAGMENT_OFFSET: usize = 6;
/// The "more fragments" flag and the fragment offset: a datagram with any of these bits set is
/// a fragment, which the server ignores (DHCP messages are far smaller than any MTU).
const IPV4_FRAGMENT_MASK: u16 = 0x3fff;
/// The offset of the protocol number in an IPv4 header.
const IPV4_PROTOCOL_OFFSET: usize = 9;
/// The offset of the header checksum in an IPv4 header.
const IPV4_CHECKSUM_OFFSET: usize = 10;
/// The IPv4 protocol number of UDP.
const IPPROTO_UDP: u8 = 17;
/// The time to live of the replies.
const REPLY_TTL: u8 = 64;

/// The length of a UDP header.
const UDP_HEADER_LEN: usize = 8;
/// The offset of the destination port in a UDP header.
const UDP_DST_PORT_OFFSET: usize = 2;
/// The offset of the length in a UDP header.
const UDP_LEN_OFFSET: usize = 4;
/// The offset of the checksum in a UDP header.
const UDP_CHECKSUM_OFFSET: usize = 6;
/// The UDP port DHCP servers listen on (RFC 2131 4.1).
const DHCP_SERVER_PORT: u16 = 67;
/// The UDP port DHCP clients listen on (RFC 2131 4.1).
const DHCP_CLIENT_PORT: u16 = 68;

/// BOOTP `op` of a message from a client.
const BOOTREQUEST: u8 = 1;
/// BOOTP `op` of a message from a server.
const BOOTREPLY: u8 = 2;
/// BOOTP `htype` of Ethernet (RFC 1700 hardware type 1).
const HTYPE_ETHERNET: u8 = 1;
/// BOOTP `hlen` of Ethernet: a 6-byte MAC address.
const HLEN_ETHERNET: u8 = 6;
/// The offset of `op` in a BOOTP message.
const OFF_OP: usize = 0;
/// The offset of `htype` in a BOOTP message.
const OFF_HTYPE: usize = 1;
/// The offset of `hlen` in a BOOTP message.
const OFF_HLEN: usize = 2;
/// The offset of `xid`, the transaction id, in a BOOTP message.
const OFF_XID: usize = 4;
/// The offset of `flags` in a BOOTP message.
const OFF_FLAGS: usize = 10;
/// The offset of `ciaddr`, the client's address when it already has one, in a BOOTP message.
const OFF_CIADDR: usize = 12;
/// The offset of `yiaddr`, the address the server gives the client, in a BOOTP message.
const OFF_YIADDR: usize = 16;
/// The offset of `siaddr`, the server's address, in a BOOTP message.
const OFF_SIADDR: usize = 20;
/// The offset of `giaddr`, the relay agent's address, in a BOOTP message.
const OFF_GIADDR: usize = 24;
/// The offset of `chaddr`, the client's hardware address (16 bytes), in a BOOTP message.
const OFF_CHADDR: usize = 28;
/// The length of the `chaddr` field.
const CHADDR_LEN: usize = 16;
/// The length of the fixed BOOTP fields, `op` to `file` (RFC 2131 2).
const BOOTP_FIXED_LEN: usize = 236;
/// The magic cookie that starts the options field (RFC 2131 3).
const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// The offset of the first option, after the fixed fields and the magic cookie.
const OPTIONS_OFFSET: usize = BOOTP_FIXED_LEN + MAGIC_COOKIE.len();
/// The smallest BOOTP message the server sends; old clients and relays expect at least the
/// 300 bytes of RFC 951.
const BOOTP_MIN_LEN: usize = 300;
/// The broadcast bit of BOOTP `flags`: the client cannot receive unicast before it is
/// configured (RFC 2131 4.1).
const BROADCAST_FLAG: u16 = 0x8000;

/// DHCP option 0, padding (RFC 2132 3.1).
const OPT_PAD: u8 = 0;
/// DHCP option 1, the subnet mask (RFC 2132 3.3).
const OPT_SUBNET_MASK: u8 = 1;
/// DHCP option 3, the routers (RFC 2132 3.5).
const OPT_ROUTER: u8 = 3;
/// DHCP option 6, the DNS servers (RFC 2132 3.8).
const OPT_DNS: u8 = 6;
/// DHCP option 12, the client's host name (RFC 2132 3.14).
const OPT_HOSTNAME: u8 = 12;
/// DHCP option 15, the domain name (RFC 2132 3.17).
const OPT_DOMAIN_NAME: u8 = 15;
/// DHCP option 28, the broadcast address (RFC 2132 5.3).
const OPT_BROADCAST: u8 = 28;
/// DHCP option 50, the address the client asks for (RFC 2132 9.1).
const OPT_REQUESTED_IP: u8 = 50;
/// DHCP option 51, the lease time in seconds (RFC 2132 9.2).
const OPT_LEASE_TIME: u8 = 51;
/// DHCP option 53, the message type (RFC 2132 9.6).
const OPT_MESSAGE_TYPE: u8 = 53;
/// DHCP option 54, the server identifier (RFC 2132 9.7).
const OPT_SERVER_ID: u8 = 54;
/// DHCP option 56, a message for the client, here the reason of a NAK (RFC 2132 9.9).
const OPT_MESSAGE: u8 = 56;
/// DHCP option 58, the renewal time T1 (RFC 2132 9.11).
const OPT_RENEWAL_TIME: u8 = 58;
/// DHCP option 59, the rebinding time T2 (RFC 2132 9.12).
const OPT_REBINDING_TIME: u8 = 59;
/// DHCP option 255, the end of the options (RFC 2132 3.2).
const OPT_END: u8 = 255;

/// DHCP message type DHCPDISCOVER (RFC 2132 9.6).
const DHCPDISCOVER: u8 = 1;
/// DHCP message type DHCPOFFER (RFC 2132 9.6).
const DHCPOFFER: u8 = 2;
/// DHCP message type DHCPREQUEST (RFC 2132 9.6).
const DHCPREQUEST: u8 = 3;
/// DHCP message type DHCPDECLINE (RFC 2132 9.6).
const DHCPDECLINE: u8 = 4;
/// DHCP message type DHCPACK (RFC 2132 9.6).
const DHCPACK: u8 = 5;
/// DHCP message type DHCPNAK (RFC 2132 9.6).
const DHCPNAK: u8 = 6;
/// DHCP message type DHCPRELEASE (RFC 2132 9.6).
const DHCPRELEASE: u8 = 7;
/// DHCP message type DHCPINFORM (RFC 2132 9.6).
const DHCPINFORM: u8 = 8;

/// The longest host name a reservation may have (one DNS label, RFC 1035 2.3.4).
const MAX_HOSTNAME_LEN: usize = 63;
/// The longest domain name (RFC 1035 2.3.4, without the trailing dot).
const MAX_DOMAIN_LEN: usize = 253;
/// The most DNS servers option 6 can carry (255 bytes of 4-byte addresses).
const MAX_DNS_SERVERS: usize = 63;
/// The text of option 56 in a NAK.
const NAK_MESSAGE: &str = "requested address not available";

/// An address reserved for one client (typically one BMC): the MAC address of its NIC, the
/// address it always gets and the host name it is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// The client's hardware address (the `chaddr` of its messages).
    pub mac: [u8; 6],
    /// The address the client always gets; it may lie inside the pool, which then skips it.
    pub ip: Ipv4Addr,
    /// The host name sent to the client in option 12, if any.
    pub hostname: Option<String>,
}

/// The DHCP server's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpConfig {
    /// The server's address (option 54 and the replies' source), e.g. 10.0.2.2; it also names
    /// the subnet, together with [`netmask`](Self::netmask).
    pub server_ip: Ipv4Addr,
    /// The MAC address replies come from: the user-mode network's gateway MAC, so that
    /// clients' ARP caches stay consistent (libslirp's is 52:55:0a:00:02:02).
    pub server_mac: [u8; 6],
    /// The subnet mask (option 1), /1 to /30.
    pub netmask: Ipv4Addr,
    /// The default gateway (option 3).
    pub router: Ipv4Addr,
    /// The DNS servers (option 6), at most 63; none leaves the option out.
    pub dns: Vec<Ipv4Addr>,
    /// The domain name (option 15), if any.
    pub domain: Option<String>,
    /// The lease time in seconds (option 51); T1 is half of it and T2 seven eighths.
    pub lease_secs: u32,
    /// The first address of the pool for clients without a reservation.
    pub pool_start: Ipv4Addr,
    /// The last address of the pool (inclusive).
    pub pool_end: Ipv4Addr,
    /// The reserved addresses, at most one per MAC address and one per address.
    pub reservations: Vec<Reservation>,
}

/// A client the server knows, for status displays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The client's hardware address.
    pub mac: [u8; 6],
    /// The address offered to or bound by the client.
    pub ip: Ipv4Addr,
    /// The reservation's host name, or else the one the client sent (option 12).
    pub hostname: Option<String>,
    /// Whether the client has the address (acknowledged), rather than only been offered it.
    pub bound: bool,
}

/// An IPv4 subnet: the network address and the mask, as host-order integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Subnet {
    /// The network address (all host bits zero).
    network: u32,
    /// The subnet mask.
    mask: u32,
}

impl Subnet {
    /// The subnet `ip` lies in under `mask`.
    fn of(ip: Ipv4Addr, mask: Ipv4Addr) -> Self {
        let mask = u32::from(mask);
        Subnet {
            network: u32::from(ip) & mask,
            mask,
        }
    }

    /// Whether `ip` lies in the subnet (the network and broadcast addresses included).
    fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask == self.network
    }

    /// The subnet's broadcast address (all host bits one).
    fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(self.network | !self.mask)
    }

    /// Why `ip` cannot be a host's address in the subnet, if it cannot.
    fn host_problem(self, ip: Ipv4Addr) -> Option<String> {
        if !self.contains(ip) {
            Some(format!("is outside the subnet {self}"))
        } else if u32::from(ip) == self.network {
            Some(format!("is the network address of {self}"))
        } else if ip == self.broadcast() {
            Some(format!("is the broadcast address of {self}"))
        } else {
            None
        }
    }
}

impl fmt::Display for Subnet {
    /// Writes the subnet in CIDR notation, e.g. `10.0.2.0/24`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            Ipv4Addr::from(self.network),
            self.mask.leading_ones()
        )
    }
}

/// Formats a MAC address the usual way, e.g. `52:54:00:12:34:56`.
fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Checks a host or domain name: not empty, at most `max_len` characters, only letters,
/// digits, '-' and '.'. `what` names it in the message.
fn check_name(what: &str, name: &str, max_len: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if name.len() > max_len {
        return Err(format!(
            "{what} \"{name}\" is longer than {max_len} characters"
        ));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        Some(bad) => Err(format!(
            "{what} \"{name}\" has the character {bad:?}; \
             only A-Z, a-z, 0-9, '-' and '.' are allowed"
        )),
        None => Ok(()),
    }
}

impl DhcpConfig {
    /// Checks the settings, returning a message that says what is wrong: a netmask that is not
    /// contiguous, a server or router address that is not a host of the subnet, a pool outside
    /// the subnet, reversed or covering the server, router or DNS addresses, a reservation
    /// outside the subnet or with a MAC address or address another reservation has, a host or
    /// domain name that is empty, too long (host names over 63 characters) or has characters
    /// other than `[A-Za-z0-9-.]`, too many DNS servers or a zero lease time. A reservation
    /// inside the pool is fine: the pool skips its address.
    pub fn validate(&self) -> Result<(), String> {
        let subnet = self.check_netmask()?;
        self.check_addresses(subnet)?;
        self.check_pool(subnet)?;
        self.check_reservations(subnet)
    }

    /// Checks the netmask and returns the subnet the server is on.
    fn check_netmask(&self) -> Result<Subnet, String> {
        let mask = u32::from(self.netmask);
        let prefix = mask.leading_ones();
        if mask.count_ones() != prefix || !(1..=30).contains(&prefix) {
            return Err(format!(
                "netmask {} is not a contiguous mask of /1 to /30",
                self.netmask
            ));
        }
        Ok(Subnet::of(self.server_ip, self.netmask))
    }

    /// Checks the server, router and DNS addresses, the domain name and the lease time.
    fn check_addresses(&self, subnet: Subnet) -> Result<(), String> {
        if let Some(problem) = subnet.host_problem(self.server_ip) {
            return Err(format!("server address {} {problem}", self.server_ip));
        }
        if let Some(problem) = subnet.host_problem(self.router) {
            return Err(format!("router {} {problem}", self.router));
        }
        if self.dns.len() > MAX_DNS_SERVERS {
            return Err(format!(
                "{} DNS servers are too many for option 6 (at most {MAX_DNS_SERVERS})",
                self.dns.len()
            ));
        }
        if let Some(domain) = &self.domain {
            check_name("domain name", domain, MAX_DOMAIN_LEN)?;
        }
        if self.lease_secs == 0 {
            return Err("lease time must be at least one second".to_string());
        }
        Ok(())
    }

    /// What `ip` already is in the configuration (server, router or DNS server), if anything:
    /// such an address must not be handed out.
    fn infrastructure_role(&self, ip: Ipv4Addr) -> Option<&'static str> {
        if ip == self.server_ip {
            Some("the server address")
        } else if ip == self.router {
            Some("the router address")
        } else if self.dns.contains(&ip) {
            Some("a DNS server address")
        } else {
            None
        }
    }

    /// Checks the dynamic pool.
    fn check_pool(&self, subnet: Subnet) -> Result<(), String> {
        for (what, ip) in [("start", self.pool_start), ("end", self.pool_end)] {
            if let Some(problem) = subnet.host_problem(ip) {
                return Err(format!("DHCP pool {what} {ip} {problem}"));
            }
        }
        let (start, end) = (u32::from(self.pool_start), u32::from(self.pool_end));
        if start > end {
            return Err(format!(
                "DHCP pool start {} is after its end {}",
                self.pool_start, self.pool_end
            ));
        }
        let fixed = [self.server_ip, self.router]
            .into_iter()
            .chain(self.dns.iter().copied());
        for ip in fixed {
            if (start..=end).contains(&u32::from(ip)) {
                let role = self.infrastructure_role(ip).unwrap_or("a fixed address");
                return Err(format!(
                    "DHCP pool {}..={} includes {role} {ip}",
                    self.pool_start, self.pool_end
                ));
            }
        }
        Ok(())
    }

    /// Checks the reservations, each on its own and against each other.
    fn check_reservations(&self, subnet: Subnet) -> Result<(), String> {
        let mut macs = HashSet::new();
        let mut ips = HashMap::new();
        for reservation in &self.reservations {
            let mac = format_mac(&reservation.mac);
            self.check_reservation(subnet, reservation, &mac)?;
            if !macs.insert(reservation.mac) {
                return Err(format!("MAC address {mac} has more than one reservation"));
            }
            if let Some(other) = ips.insert(reservation.ip, reservation.mac) {
                return Err(format!(
                    "reservations for {} and {mac} both claim {}",
                    format_mac(&other),
                    reservation.ip
                ));
            }
        }
        Ok(())
    }

    /// Checks one reservation; `mac` is its MAC address, formatted.
    fn check_reservation(
        &self,
        subnet: Subnet,
        reservation: &Reservation,
        mac: &str,
    ) -> Result<(), String> {
        if reservation.mac[0] & 1 != 0 {
            return Err(format!(
                "reservation for {mac}: a multicast MAC address cannot be a client"
            ));
        }
        if reservation.mac == [0; 6] {
            return Err("reservation for 00:00:00:00:00:00: the MAC address is zero".to_string());
        }
        let ip = reservation.ip;
        if let Some(problem) = subnet.host_problem(ip) {
            return Err(format!("reservation for {mac}: address {ip} {problem}"));
        }
        if let Some(role) = self.infrastructure_role(ip) {
            return Err(format!("reservation for {mac}: address {ip} is {role}"));
        }
        if let Some(hostname) = &reservation.hostname {
            check_name(
                &format!("reservation for {mac}: host name"),
                hostname,
                MAX_HOSTNAME_LEN,
            )?;
        }
        Ok(())
    }
}

/// Reads `N` bytes at `at`, if `data` has them.
fn read_array<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Reads a big-endian 16-bit number at `at`, if `data` has it.
fn read_u16(data: &[u8], at: usize) -> Option<u16> {
    read_array(data, at).map(u16::from_be_bytes)
}

/// Reads an IPv4 address at `at`, if `data` has it.
fn read_ipv4(data: &[u8], at: usize) -> Option<Ipv4Addr> {
    read_array::<4>(data, at).map(Ipv4Addr::from)
}

/// The UDP segment (header and payload) of an Ethernet II frame carrying an unfragmented IPv4
/// UDP datagram. IPv4 options are skipped; Ethernet padding after the datagram is cut off;
/// VLAN-tagged frames are not recognised.
fn udp_segment(frame: &[u8]) -> Option<&[u8]> {
    if read_u16(frame, ETH_TYPE_OFFSET)? != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = frame.get(ETH_HEADER_LEN..)?;
    let version_ihl = *ip.first()?;
    let header_len = usize::from(version_ihl & 0x0f) * 4;
    if version_ihl >> 4 != IPV4_VERSION || header_len < IPV4_MIN_HEADER_LEN {
        return None;
    }
    let total_len = usize::from(read_u16(ip, IPV4_TOTAL_LEN_OFFSET)?);
    let fragment = read_u16(ip, IPV4_FRAGMENT_OFFSET)?;
    if fragment & IPV4_FRAGMENT_MASK != 0 || *ip.get(IPV4_PROTOCOL_OFFSET)? != IPPROTO_UDP {
        return None;
    }
    ip.get(header_len..total_len)
}

/// The payload of a UDP segment to port `port`, bounded by the UDP length.
fn udp_payload_to(segment: &[u8], port: u16) -> Option<&[u8]> {
    if read_u16(segment, UDP_DST_PORT_OFFSET)? != port {
        return None;
    }
    let udp_len = usize::from(read_u16(segment, UDP_LEN_OFFSET)?);
    segment.get(UDP_HEADER_LEN..udp_len)
}

/// The BOOTP message of a frame sent to the DHCP server port.
fn dhcp_payload(frame: &[u8]) -> Option<&[u8]> {
    udp_payload_to(udp_segment(frame)?, DHCP_SERVER_PORT)
}

/// The options of a client message that the server uses.
#[derive(Debug, Default)]
struct ClientOptions {
    /// Option 53, the message type.
    kind: Option<u8>,
    /// Option 50, the requested address.
    requested_ip: Option<Ipv4Addr>,
    /// Option 54, the server the client selected.
    server_id: Option<Ipv4Addr>,
    /// Option 12, the client's host name.
    hostname: Option<String>,
}

impl ClientOptions {
    /// Parses the options field (after the magic cookie). Returns `None` when an option runs
    /// past the end; a missing end option is tolerated.
    fn parse(mut data: &[u8]) -> Option<Self> {
        let mut options = ClientOptions::default();
        while let Some((&code, rest)) = data.split_first() {
            match code {
                OPT_PAD => data = rest,
                OPT_END => break,
                _ => {
                    let (&len, rest) = rest.split_first()?;
                    let value = rest.get(..usize::from(len))?;
                    options.apply(code, value);
                    data = rest.get(usize::from(len)..)?;
                }
            }
        }
        Some(options)
    }

    /// Records one option; options with an unexpected length are ignored.
    fn apply(&mut self, code: u8, value: &[u8]) {
        match (code, value.len()) {
            (OPT_MESSAGE_TYPE, 1) => self.kind = Some(value[0]),
            (OPT_REQUESTED_IP, 4) => self.requested_ip = read_ipv4(value, 0),
            (OPT_SERVER_ID, 4) => self.server_id = read_ipv4(value, 0),
            (OPT_HOSTNAME, _) => self.hostname = client_hostname(value),
            _ => {}
        }
    }
}

/// The host name a client sent, without trailing NULs (some clients count one); `None` if it
/// is empty.
fn client_hostname(value: &[u8]) -> Option<String> {
    let end = value.iter().rposition(|&b| b != 0)? + 1;
    Some(String::from_utf8_lossy(&value[..end]).into_owned())
}

/// A client message, reduced to what the server needs.
#[derive(Debug)]
struct ClientMessage {
    /// The DHCP message type (option 53).
    kind: u8,
    /// The transaction id, copied into the reply.
    xid: [u8; 4],
    /// The BOOTP flags, copied into the reply.
    flags: u16,
    /// The client's current address, if it has one.
    ciaddr: Ipv4Addr,
    /// The relay agent's address, copied into the reply.
    giaddr: Ipv4Addr,
    /// The whole `chaddr` field, copied into the reply.
    chaddr: [u8; CHADDR_LEN],
    /// The options the server uses.
    options: ClientOptions,
}

impl ClientMessage {
    /// Parses a BOOTP request from an Ethernet client that carries a DHCP message type.
    fn parse(bootp: &[u8]) -> Option<Self> {
        let fixed = bootp.get(..BOOTP_FIXED_LEN)?;
        if fixed[OFF_OP] != BOOTREQUEST
            || fixed[OFF_HTYPE] != HTYPE_ETHERNET
            || fixed[OFF_HLEN] != HLEN_ETHERNET
            || read_array(bootp, BOOTP_FIXED_LEN)? != MAGIC_COOKIE
        {
            return None;
        }
        let options = ClientOptions::parse(bootp.get(OPTIONS_OFFSET..)?)?;
        Some(ClientMessage {
            kind: options.kind?,
            xid: read_array(fixed, OFF_XID)?,
            flags: read_u16(fixed, OFF_FLAGS)?,
            ciaddr: read_ipv4(fixed, OFF_CIADDR)?,
            giaddr: read_ipv4(fixed, OFF_GIADDR)?,
            chaddr: read_array(fixed, OFF_CHADDR)?,
            options,
        })
    }

    /// The client's MAC address, the first six bytes of `chaddr`.
    fn mac(&self) -> [u8; 6] {
        let mut mac = [0; 6];
        mac.copy_from_slice(&self.chaddr[..6]);
        mac
    }

    /// The address a REQUEST asks for: option 50, or else `ciaddr` (renewing, rebinding).
    fn requested_ip(&self) -> Option<Ipv4Addr> {
        self.options
            .requested_ip
            .or(Some(self.ciaddr).filter(|ip| !ip.is_unspecified()))
    }
}

/// Builds the options field of a reply, ending it with option 255.
#[derive(Default)]
struct OptionWriter(Vec<u8>);

impl OptionWriter {
    /// Appends one option; a value too long for an option (over 255 bytes) is left out, which
    /// the configuration's validation rules out.
    fn push(&mut self, code: u8, value: &[u8]) {
        if let Ok(len) = u8::try_from(value.len()) {
            self.0.push(code);
            self.0.push(len);
            self.0.extend_from_slice(value);
        }
    }

    /// Appends a 32-bit number option.
    fn push_u32(&mut self, code: u8, value: u32) {
        self.push(code, &value.to_be_bytes());
    }

    /// Appends the end option and returns the field.
    fn finish(mut self) -> Vec<u8> {
        self.0.push(OPT_END);
        self.0
    }
}

/// What a reply carries besides what it copies from the request.
struct ReplyFields {
    /// The DHCP message type.
    kind: u8,
    /// `ciaddr`: the request's for an ACK, otherwise zero.
    ciaddr: Ipv4Addr,
    /// `yiaddr`: the client's address for an OFFER or an ACK to a REQUEST, otherwise zero.
    yiaddr: Ipv4Addr,
    /// `siaddr`: the server's address, zero in a NAK.
    siaddr: Ipv4Addr,
    /// The options field, magic cookie excluded.
    options: Vec<u8>,
}

/// Where a reply goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Destination {
    /// The Ethernet destination.
    mac: [u8; 6],
    /// The IPv4 destination.
    ip: Ipv4Addr,
}

impl Destination {
    /// The broadcast destination, for clients that cannot receive unicast yet and for NAKs.
    const BROADCAST: Destination = Destination {
        mac: BROADCAST_MAC,
        ip: Ipv4Addr::BROADCAST,
    };

    /// Where the reply to `request` goes (RFC 2131 4.1): NAKs and replies to clients that set
    /// the broadcast flag are broadcast; otherwise the reply goes to the client's MAC address
    /// at `ciaddr` when it has one (INFORM, renewing), else at `yiaddr`.
    fn of_reply(request: &ClientMessage, reply: &ReplyFields) -> Self {
        let unicast_ip = [reply.ciaddr, reply.yiaddr]
            .into_iter()
            .find(|ip| !ip.is_unspecified());
        match unicast_ip {
            Some(ip) if reply.kind != DHCPNAK && request.flags & BROADCAST_FLAG == 0 => {
                Destination {
                    mac: request.mac(),
                    ip,
                }
            }
            _ => Destination::BROADCAST,
        }
    }
}

/// Builds the BOOTP message of a reply to `request`.
fn bootp_reply(request: &ClientMessage, reply: &ReplyFields) -> Vec<u8> {
    let mut bootp = vec![0; OPTIONS_OFFSET];
    bootp[OFF_OP] = BOOTREPLY;
    bootp[OFF_HTYPE] = HTYPE_ETHERNET;
    bootp[OFF_HLEN] = HLEN_ETHERNET;
    let fields: [(usize, &[u8]); 8] = [
        (OFF_XID, &request.xid),
        (OFF_FLAGS, &request.flags.to_be_bytes()),
        (OFF_CIADDR, &reply.ciaddr.octets()),
        (OFF_YIADDR, &reply.yiaddr.octets()),
        (OFF_SIADDR, &reply.siaddr.octets()),
        (OFF_GIADDR, &request.giaddr.octets()),
        (OFF_CHADDR, &request.chaddr),
        (BOOTP_FIXED_LEN, &MAGIC_COOKIE),
    ];
    for (offset, value) in fields {
        bootp[offset..offset + value.len()].copy_from_slice(value);
    }
    bootp.extend_from_slice(&reply.options);
    if bootp.len() < BOOTP_MIN_LEN {
        bootp.resize(BOOTP_MIN_LEN, OPT_PAD);
    }
    bootp
}

/// Adds `data` as big-endian 16-bit words (an odd last byte padded with zero) to `sum`.
fn checksum_add(data: &[u8], mut sum: u32) -> u32 {
    let mut words = data.chunks_exact(2);
    for word in &mut words {
        sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

/// Folds a sum into the one's complement checksum (RFC 1071).
fn checksum_finish(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The sum of the UDP pseudo-header (RFC 768): addresses, protocol and UDP length.
fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, udp_len: u16) -> u32 {
    let sum = checksum_add(&src.octets(), 0);
    let sum = checksum_add(&dst.octets(), sum);
    sum + u32::from(IPPROTO_UDP) + u32::from(udp_len)
}

/// What the server knows of one client.
#[derive(Clone, Debug)]
struct Binding {
    /// The address offered or bound.
    ip: Ipv4Addr,
    /// Whether the client has been acknowledged.
    bound: bool,
    /// The host name the client last sent.
    client_hostname: Option<String>,
}

/// A DHCP server for the switch's network: it answers client frames with reply frames and keeps
/// the leases.
#[derive(Debug)]
pub struct DhcpServer {
    /// The validated settings.
    config: DhcpConfig,
    /// The subnet the server is on.
    subnet: Subnet,
    /// The index in `config.reservations` of each reserved MAC address.
    reserved_by_mac: HashMap<[u8; 6], usize>,
    /// The reserved addresses, which the pool skips.
    reserved_ips: HashSet<Ipv4Addr>,
    /// The clients with an offered or bound address, by MAC address.
    bindings: HashMap<[u8; 6], Binding>,
    /// The MAC address each offered or bound address belongs to.
    owners: HashMap<Ipv4Addr, [u8; 6]>,
    /// Pool addresses a client declined (another host uses them); never offered again.
    declined: HashSet<Ipv4Addr>,
    /// Whether the pool's exhaustion has been reported since an address was last freed.
    exhaustion_warned: bool,
    /// The IPv4 identification of the next reply.
    next_ip_id: u16,
}

impl DhcpServer {
    /// Creates a server with no leases; fails with [`DhcpConfig::validate`]'s message if the
    /// settings are wrong.
    pub fn new(config: DhcpConfig) -> Result<Self, String> {
        config.validate()?;
        let reserved_by_mac = config
            .reservations
            .iter()
            .enumerate()
            .map(|(index, reservation)| (reservation.mac, index))
            .collect();
        let reserved_ips = config.reservations.iter().map(|r| r.ip).collect();
        Ok(DhcpServer {
            subnet: Subnet::of(config.server_ip, config.netmask),
            config,
            reserved_by_mac,
            reserved_ips,
            bindings: HashMap::new(),
            owners: HashMap::new(),
            declined: HashSet::new(),
            exhaustion_warned: false,
            next_ip_id: 0,
        })
    }

    /// Whether `frame` is a DHCP client message (Ethernet II, IPv4, UDP to port 67) — the
    /// switch uses it to route such frames to the server instead of the uplink.
    pub fn is_dhcp_client_frame(frame: &[u8]) -> bool {
        dhcp_payload(frame).is_some()
    }

    /// Handles a client frame; returns the reply frame (OFFER, ACK, NAK) or `None` (not DHCP,
    /// malformed, RELEASE/DECLINE handled without reply, a REQUEST for another server, no free
    /// address).
    pub fn handle(&mut self, frame: &[u8]) -> Option<Vec<u8>> {
        let request = ClientMessage::parse(dhcp_payload(frame)?)?;
        match request.kind {
            DHCPDISCOVER => self.on_discover(&request),
            DHCPREQUEST => self.on_request(&request),
            DHCPINFORM => Some(self.on_inform(&request)),
            DHCPRELEASE => {
                self.on_release(&request);
                None
            }
            DHCPDECLINE => {
                self.on_decline(&request);
                None
            }
            _ => None,
        }
    }

    /// Current bindings (mac, ip, hostname option the client sent or the reservation's), for
    /// status displays, ordered by address. Offered addresses are listed too, not bound.
    pub fn leases(&self) -> Vec<Lease> {
        let mut leases: Vec<Lease> = self
            .bindings
            .iter()
            .map(|(mac, binding)| Lease {
                mac: *mac,
                ip: binding.ip,
                hostname: self
                    .reserved_hostname(mac)
                    .map(str::to_string)
                    .or_else(|| binding.client_hostname.clone()),
                bound: binding.bound,
            })
            .collect();
        leases.sort_by_key(|lease| (u32::from(lease.ip), lease.mac));
        leases
    }

    /// The reservation of `mac`, if it has one.
    fn reservation(&self, mac: &[u8; 6]) -> Option<&Reservation> {
        let index = *self.reserved_by_mac.get(mac)?;
        self.config.reservations.get(index)
    }

    /// The host name reserved for `mac`, if any.
    fn reserved_hostname(&self, mac: &[u8; 6]) -> Option<&str> {
        self.reservation(mac)?.hostname.as_deref()
    }

    /// Whether `ip` lies in the dynamic pool.
    fn in_pool(&self, ip: Ipv4Addr) -> bool {
        let ip = u32::from(ip);
        (u32::from(self.config.pool_start)..=u32::from(self.config.pool_end)).contains(&ip)
    }

    /// Whether the pool address `ip` can go to `mac`: it is in the pool, not reserved, not
    /// declined, and free or already `mac`'s.
    fn pool_address_available(&self, mac: &[u8; 6], ip: Ipv4Addr) -> bool {
        self.in_pool(ip)
            && !self.reserved_ips.contains(&ip)
            && !self.declined.contains(&ip)
            && !matches!(self.owners.get(&ip), Some(owner) if owner != mac)
    }

    /// The first pool address that can go to `mac`.
    fn first_free_pool_address(&self, mac: &[u8; 6]) -> Option<Ipv4Addr> {
        (u32::from(self.config.pool_start)..=u32::from(self.config.pool_end))
            .map(Ipv4Addr::from)
            .find(|ip| self.pool_address_available(mac, *ip))
    }

    /// The address to offer `mac`: its reservation, its current address, the address it asks
    /// for if free, or the first free one. Warns once when the pool has none.
    fn address_to_offer(&mut self, mac: &[u8; 6], requested: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        if let Some(reservation) = self.reservation(mac) {
            return Some(reservation.ip);
        }
        if let Some(binding) = self.bindings.get(mac) {
            return Some(binding.ip);
        }
        let wanted = requested.filter(|ip| self.pool_address_available(mac, *ip));
        let ip = wanted.or_else(|| self.first_free_pool_address(mac));
        if ip.is_none() && !self.exhaustion_warned {
            self.exhaustion_warned = true;
            log::warn!(
                "dhcp: pool {}..={} is exhausted, {} gets no address",
                self.config.pool_start,
                self.config.pool_end,
                format_mac(mac)
            );
        }
        ip
    }

    /// Whether `mac` may have `ip`: its reservation if it has one, else a pool address that is
    /// free or already its own.
    fn may_bind(&self, mac: &[u8; 6], ip: Ipv4Addr) -> bool {
        match self.reservation(mac) {
            Some(reservation) => reservation.ip == ip,
            None => self.pool_address_available(mac, ip),
        }
    }

    /// Records that `mac` has been offered (`bound` false) or acknowledged `ip`, releasing any
    /// other address it had.
    fn record(&mut self, mac: [u8; 6], ip: Ipv4Addr, bound: bool, hostname: Option<String>) {
        let previous = self.bindings.remove(&mac);
        if let Some(previous) = &previous {
            self.owners.remove(&previous.ip);
        }
        let client_hostname = hostname.or(previous.and_then(|p| p.client_hostname));
        self.owners.insert(ip, mac);
        self.bindings.insert(
            mac,
            Binding {
                ip,
                bound,
                client_hostname,
            },
        );
    }

    /// Forgets `mac`'s binding, making a pool address free again.
    fn forget(&mut self, mac: &[u8; 6]) {
        if let Some(binding) = self.bindings.remove(mac) {
            self.owners.remove(&binding.ip);
            self.exhaustion_warned = false;
        }
    }

    /// Whether a message names another server in option 54.
    fn for_other_server(&self, request: &ClientMessage) -> bool {
        request
            .options
            .server_id
            .is_some_and(|id| id != self.config.server_ip)
    }

    /// DISCOVER: offers an address, or stays silent when there is none.
    fn on_discover(&mut self, request: &ClientMessage) -> Option<Vec<u8>> {
        let mac = request.mac();
        let ip = self.address_to_offer(&mac, request.options.requested_ip)?;
        self.record(mac, ip, false, request.options.hostname.clone());
        log::debug!("dhcp: offering {ip} to {}", format_mac(&mac));
        let reply = self.address_reply(&mac, DHCPOFFER, Ipv4Addr::UNSPECIFIED, ip);
        Some(self.reply_frame(request, &reply))
    }

    /// REQUEST: acknowledges the address the client is entitled to, refuses any other, and
    /// withdraws an offer when the client chose another server.
    fn on_request(&mut self, request: &ClientMessage) -> Option<Vec<u8>> {
        let mac = request.mac();
        if self.for_other_server(request) {
            if self.bindings.get(&mac).is_some_and(|b| !b.bound) {
                self.forget(&mac);
            }
            return None;
        }
        let reply = match request.requested_ip() {
            Some(ip) if self.may_bind(&mac, ip) => {
                self.record(mac, ip, true, request.options.hostname.clone());
                log::debug!("dhcp: {} is bound to {ip}", format_mac(&mac));
                self.address_reply(&mac, DHCPACK, request.ciaddr, ip)
            }
            requested => {
                log::info!(
                    "dhcp: refusing {} to {}",
                    requested.map_or("no address".to_string(), |ip| ip.to_string()),
                    format_mac(&mac)
                );
                self.nak()
            }
        };
        Some(self.reply_frame(request, &reply))
    }

    /// INFORM: sends the configuration without an address or lease.
    fn on_inform(&mut self, request: &ClientMessage) -> Vec<u8> {
        let hostname = self.reserved_hostname(&request.mac());
        let reply = ReplyFields {
            kind: DHCPACK,
            ciaddr: request.ciaddr,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: self.config.server_ip,
            options: self.reply_options(DHCPACK, false, hostname),
        };
        self.reply_frame(request, &reply)
    }

    /// RELEASE: forgets the client's binding, freeing a pool address.
    fn on_release(&mut self, request: &ClientMessage) {
        let mac = request.mac();
        if self.for_other_server(request) {
            return;
        }
        let Some(binding) = self.bindings.get(&mac) else {
            return;
        };
        if request.ciaddr.is_unspecified() || request.ciaddr == binding.ip {
            log::debug!("dhcp: {} released {}", format_mac(&mac), binding.ip);
            self.forget(&mac);
        }
    }

    /// DECLINE: another host uses the address; a pool address is never offered again.
    fn on_decline(&mut self, request: &ClientMessage) {
        let mac = request.mac();
        let Some(ip) = request.options.requested_ip else {
            return;
        };
        if self.for_other_server(request) {
            return;
        }
        if self.bindings.get(&mac).is_some_and(|b| b.ip == ip) {
            self.forget(&mac);
        }
        if self.reserved_ips.contains(&ip) {
            log::warn!(
                "dhcp: {} declined the reserved address {ip}: another host is using it",
                format_mac(&mac)
            );
        } else if self.in_pool(ip) && !self.owners.contains_key(&ip) {
            log::warn!(
                "dhcp: {} declined {ip}: another host is using it, it is no longer handed out",
                format_mac(&mac)
            );
            self.declined.insert(ip);
        }
    }

    /// The fields of an OFFER or an ACK that gives `mac` the address `yiaddr`.
    fn address_reply(
        &self,
        mac: &[u8; 6],
        kind: u8,
        ciaddr: Ipv4Addr,
        yiaddr: Ipv4Addr,
    ) -> ReplyFields {
        ReplyFields {
            kind,
            ciaddr,
            yiaddr,
            siaddr: self.config.server_ip,
            options: self.reply_options(kind, true, self.reserved_hostname(mac)),
        }
    }

    /// The fields of a NAK: only the message type, the server id and a message.
    fn nak(&self) -> ReplyFields {
        let mut options = OptionWriter::default();
        options.push(OPT_MESSAGE_TYPE, &[DHCPNAK]);
        options.push(OPT_SERVER_ID, &self.config.server_ip.octets());
        options.push(OPT_MESSAGE, NAK_MESSAGE.as_bytes());
        ReplyFields {
            kind: DHCPNAK,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            options: options.finish(),
        }
    }

    /// The options of an OFFER or ACK: always the full set, whatever option 55 asks for; the
    /// lease times only with `lease`.
    fn reply_options(&self, kind: u8, lease: bool, hostname: Option<&str>) -> Vec<u8> {
        let config = &self.config;
        let mut options = OptionWriter::default();
        options.push(OPT_MESSAGE_TYPE, &[kind]);
        options.push(OPT_SERVER_ID, &config.server_ip.octets());
        if lease {
            let rebinding = u64::from(config.lease_secs) * 7 / 8;
            options.push_u32(OPT_LEASE_TIME, config.lease_secs);
            options.push_u32(OPT_RENEWAL_TIME, config.lease_secs / 2);
            options.push_u32(OPT_REBINDING_TIME, rebinding as u32);
        }
        options.push(OPT_SUBNET_MASK, &config.netmask.octets());
        options.push(OPT_ROUTER, &config.router.octets());
        if !config.dns.is_empty() {
            let dns: Vec<u8> = config.dns.iter().flat_map(|ip| ip.octets()).collect();
            options.push(OPT_DNS, &dns);
        }
        if let Some(domain) = &config.domain {
            options.push(OPT_DOMAIN_NAME, domain.as_bytes());
        }
        options.push(OPT_BROADCAST, &self.subnet.broadcast().octets());
        if let Some(hostname) = hostname {
            options.push(OPT_HOSTNAME, hostname.as_bytes());
        }
        options.finish()
    }

    /// The whole frame of a reply to `request`.
    fn reply_frame(&mut self, request: &ClientMessage, reply: &ReplyFields) -> Vec<u8> {
        let destination = Destination::of_reply(request, reply);
        self.udp_frame(destination, &bootp_reply(request, reply))
    }

    /// Wraps `payload` in UDP (67 to 68), IPv4 and Ethernet headers from the server to
    /// `destination`, with both checksums.
    fn udp_frame(&mut self, destination: Destination, payload: &[u8]) -> Vec<u8> {
        let src = self.config.server_ip;
        // Replies are under 1 KiB (the options are bounded by the validated configuration), so
        // the lengths fit 16 bits.
        let udp_len = (UDP_HEADER_LEN + payload.len()) as u16;
        let ip_len = IPV4_MIN_HEADER_LEN as u16 + udp_len;
        let ip_id = self.next_ip_id;
        self.next_ip_id = self.next_ip_id.wrapping_add(1);

        let mut frame = Vec::with_capacity(ETH_HEADER_LEN + usize::from(ip_len));
        frame.extend_from_slice(&destination.mac);
        frame.extend_from_slice(&self.config.server_mac);
        frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());

        let ip_start = frame.len();
        frame.push((IPV4_VERSION << 4) | (IPV4_MIN_HEADER_LEN / 4) as u8);
        frame.push(0); // type of service
        frame.extend_from_slice(&ip_len.to_be_bytes());
        frame.extend_from_slice(&ip_id.to_be_bytes());
        frame.extend_from_slice(&[0, 0]); // flags and fragment offset
        frame.extend_from_slice(&[REPLY_TTL, IPPROTO_UDP, 0, 0]);
        frame.extend_from_slice(&src.octets());
        frame.extend_from_slice(&destination.ip.octets());
        let ip_checksum = checksum_finish(checksum_add(&frame[ip_start..], 0));
        let at = ip_start + IPV4_CHECKSUM_OFFSET;
        frame[at..at + 2].copy_from_slice(&ip_checksum.to_be_bytes());

        let udp_start = frame.len();
        frame.extend_from_slice(&DHCP_SERVER_PORT.to_be_bytes());
        frame.extend_from_slice(&DHCP_CLIENT_PORT.to_be_bytes());
        frame.extend_from_slice(&udp_len.to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(payload);
        let pseudo = pseudo_header_sum(src, destination.ip, udp_len);
        // A computed zero is sent as all ones: zero means "no checksum" in UDP over IPv4.
        let udp_checksum = match checksum_finish(checksum_add(&frame[udp_start..], pseudo)) {
            0 => 0xffff,
            sum => sum,
        };
        let at = udp_start + UDP_CHECKSUM_OFFSET;
        frame[at..at + 2].copy_from_slice(&udp_checksum.to_be_bytes());
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DHCP option 55, the parameter request list (RFC 2132 9.8).
    const OPT_PARAMETER_LIST: u8 = 55;
    /// DHCP option 57, the maximum message size (RFC 2132 9.10).
    const OPT_MAX_MESSAGE_SIZE: u8 = 57;
    /// DHCP option 61, the client identifier (RFC 2132 9.14).
    const OPT_CLIENT_ID: u8 = 61;
    /// The parameters busybox udhcpc asks for by default.
    const UDHCPC_PARAMETERS: [u8; 7] = [1, 3, 6, 12, 15, 28, 42];
    /// The EtherType of ARP.
    const ETHERTYPE_ARP: u16 = 0x0806;
    /// The EtherType of an 802.1Q VLAN tag.
    const ETHERTYPE_VLAN: u16 = 0x8100;

    const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
    const SERVER_MAC: [u8; 6] = [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02];
    const DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
    const BMC0_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
    const BMC0_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 101);
    const BMC1_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
    const BMC1_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 102);
    /// A reservation at the start of the pool, which the pool must skip.
    const IN_POOL_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x03];
    const POOL_START: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
    const LEASE_SECS: u32 = 86_400;

    fn config() -> DhcpConfig {
        DhcpConfig {
            server_ip: SERVER_IP,
            server_mac: SERVER_MAC,
            netmask: Ipv4Addr::new(255, 255, 255, 0),
            router: SERVER_IP,
            dns: vec![DNS_IP],
            domain: Some("rack.test".to_string()),
            lease_secs: LEASE_SECS,
            pool_start: POOL_START,
            pool_end: Ipv4Addr::new(10, 0, 2, 30),
            reservations: vec![
                Reservation {
                    mac: BMC0_MAC,
                    ip: BMC0_IP,
                    hostname: Some("bmc0".to_string()),
                },
                Reservation {
                    mac: BMC1_MAC,
                    ip: BMC1_IP,
                    hostname: Some("bmc1".to_string()),
                },
                Reservation {
                    mac: IN_POOL_MAC,
                    ip: POOL_START,
                    hostname: None,
                },
            ],
        }
    }

    fn server() -> DhcpServer {
        DhcpServer::new(config()).expect("valid configuration")
    }

    fn unknown_mac(n: u8) -> [u8; 6] {
        [0x52, 0x54, 0x00, 0x12, 0x34, n]
    }

    /// An independent RFC 1071 checksum over `chunks`, for checking the server's.
    fn ones_complement(chunks: &[&[u8]]) -> u16 {
        let bytes: Vec<u8> = chunks.concat();
        let mut sum: u64 = 0;
        for pair in bytes.chunks(2) {
            let hi = u64::from(pair[0]) << 8;
            let lo = pair.get(1).map_or(0, |&b| u64::from(b));
            sum += hi | lo;
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// Builds Ethernet + IPv4 + UDP around `payload`, with correct checksums.
    fn udp_frame(
        macs: ([u8; 6], [u8; 6]),
        ips: (Ipv4Addr, Ipv4Addr),
        ports: (u16, u16),
        ip_options: &[u8],
        payload: &[u8],
    ) -> Vec<u8> {
        assert_eq!(ip_options.len() % 4, 0);
        let udp_len = (8 + payload.len()) as u16;
        let header_len = 20 + ip_options.len();
        let mut ip = vec![0x40 | (header_len / 4) as u8, 0];
        ip.extend_from_slice(&(header_len as u16 + udp_len).to_be_bytes());
        ip.extend_from_slice(&[0x12, 0x34, 0, 0, 64, IPPROTO_UDP, 0, 0]);
        ip.extend_from_slice(&ips.0.octets());
        ip.extend_from_slice(&ips.1.octets());
        ip.extend_from_slice(ip_options);
        let ip_checksum = ones_complement(&[&ip]);
        ip[10..12].copy_from_slice(&ip_checksum.to_be_bytes());

        let mut udp = Vec::new();
        udp.extend_from_slice(&ports.0.to_be_bytes());
        udp.extend_from_slice(&ports.1.to_be_bytes());
        udp.extend_from_slice(&udp_len.to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(payload);
        let pseudo = [
            &ips.0.octets()[..],
            &ips.1.octets(),
            &[0, IPPROTO_UDP],
            &udp_len.to_be_bytes(),
        ]
        .concat();
        let udp_checksum = ones_complement(&[&pseudo, &udp]);
        udp[6..8].copy_from_slice(&udp_checksum.to_be_bytes());

        let mut frame = Vec::new();
        frame.extend_from_slice(&macs.1);
        frame.extend_from_slice(&macs.0);
        frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&udp);
        frame
    }

    /// A DHCP client as busybox udhcpc behaves.
    struct Client {
        mac: [u8; 6],
        xid: u32,
        hostname: Option<&'static str>,
        client_id: bool,
        broadcast: bool,
        ip_options: Vec<u8>,
    }

    impl Client {
        fn new(mac: [u8; 6]) -> Self {
            Client {
                mac,
                xid: u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]) ^ 0x5a5a_0000,
                hostname: Some("udhcpc-host"),
                client_id: true,
                broadcast: false,
                ip_options: Vec::new(),
            }
        }

        /// The BOOTP message of type `kind` with `ciaddr` and the given extra options.
        fn bootp(&self, kind: u8, ciaddr: Ipv4Addr, extra: &[(u8, Vec<u8>)]) -> Vec<u8> {
            let mut b = vec![0u8; BOOTP_FIXED_LEN];
            b[0] = BOOTREQUEST;
            b[1] = HTYPE_ETHERNET;
            b[2] = HLEN_ETHERNET;
            b[4..8].copy_from_slice(&self.xid.to_be_bytes());
            if self.broadcast {
                b[10..12].copy_from_slice(&BROADCAST_FLAG.to_be_bytes());
            }
            b[12..16].copy_from_slice(&ciaddr.octets());
            b[28..34].copy_from_slice(&self.mac);
            b.extend_from_slice(&MAGIC_COOKIE);
            let mut options = vec![(OPT_MESSAGE_TYPE, vec![kind])];
            if self.client_id {
                let mut id = vec![HTYPE_ETHERNET];
                id.extend_from_slice(&self.mac);
                options.push((OPT_CLIENT_ID, id));
            }
            options.extend(extra.iter().cloned());
            if kind != DHCPRELEASE && kind != DHCPDECLINE {
                options.push((OPT_MAX_MESSAGE_SIZE, 576u16.to_be_bytes().to_vec()));
                options.push((OPT_PARAMETER_LIST, UDHCPC_PARAMETERS.to_vec()));
                if let Some(name) = self.hostname {
                    options.push((OPT_HOSTNAME, name.as_bytes().to_vec()));
                }
            }
            for (code, value) in options {
                b.push(code);
                b.push(value.len() as u8);
                b.extend_from_slice(&value);
            }
            b.push(OPT_END);
            b.resize(b.len().max(300), 0);
            b
        }

        fn broadcast_frame(&self, bootp: &[u8]) -> Vec<u8> {
            udp_frame(
                (self.mac, BROADCAST_MAC),
                (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST),
                (DHCP_CLIENT_PORT, DHCP_SERVER_PORT),
                &self.ip_options,
                bootp,
            )
        }

        fn unicast_frame(&self, from: Ipv4Addr, bootp: &[u8]) -> Vec<u8> {
            udp_frame(
                (self.mac, SERVER_MAC),
                (from, SERVER_IP),
                (DHCP_CLIENT_PORT, DHCP_SERVER_PORT),
                &self.ip_options,
                bootp,
            )
        }

        fn discover(&self) -> Vec<u8> {
            self.broadcast_frame(&self.bootp(DHCPDISCOVER, Ipv4Addr::UNSPECIFIED, &[]))
        }

        fn discover_asking_for(&self, ip: Ipv4Addr) -> Vec<u8> {
            let extra = [(OPT_REQUESTED_IP, ip.octets().to_vec())];
            self.broadcast_frame(&self.bootp(DHCPDISCOVER, Ipv4Addr::UNSPECIFIED, &extra))
        }

        fn request_selecting(&self, server: Ipv4Addr, ip: Ipv4Addr) -> Vec<u8> {
            let extra = [
                (OPT_REQUESTED_IP, ip.octets().to_vec()),
                (OPT_SERVER_ID, server.octets().to_vec()),
            ];
            self.broadcast_frame(&self.bootp(DHCPREQUEST, Ipv4Addr::UNSPECIFIED, &extra))
        }

        fn request_init_reboot(&self, ip: Ipv4Addr) -> Vec<u8> {
            let extra = [(OPT_REQUESTED_IP, ip.octets().to_vec())];
            self.broadcast_frame(&self.bootp(DHCPREQUEST, Ipv4Addr::UNSPECIFIED, &extra))
        }

        fn request_renewing(&self, ip: Ipv4Addr) -> Vec<u8> {
            self.unicast_frame(ip, &self.bootp(DHCPREQUEST, ip, &[]))
        }

        fn inform(&self, ip: Ipv4Addr) -> Vec<u8> {
            self.unicast_frame(ip, &self.bootp(DHCPINFORM, ip, &[]))
        }

        fn release(&self, ip: Ipv4Addr) -> Vec<u8> {
            let extra = [(OPT_SERVER_ID, SERVER_IP.octets().to_vec())];
            self.unicast_frame(ip, &self.bootp(DHCPRELEASE, ip, &extra))
        }

        fn decline(&self, ip: Ipv4Addr) -> Vec<u8> {
            let extra = [
                (OPT_REQUESTED_IP, ip.octets().to_vec()),
                (OPT_SERVER_ID, SERVER_IP.octets().to_vec()),
            ];
            self.broadcast_frame(&self.bootp(DHCPDECLINE, Ipv4Addr::UNSPECIFIED, &extra))
        }
    }

    /// A reply frame, taken apart.
    #[derive(Debug)]
    struct Reply {
        eth_dst: [u8; 6],
        eth_src: [u8; 6],
        ip_src: Ipv4Addr,
        ip_dst: Ipv4Addr,
        ttl: u8,
        ports: (u16, u16),
        bootp: Vec<u8>,
        options: Vec<(u8, Vec<u8>)>,
    }

    impl Reply {
        fn option(&self, code: u8) -> Option<&[u8]> {
            self.options
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, v)| v.as_slice())
        }

        fn kind(&self) -> u8 {
            self.option(OPT_MESSAGE_TYPE).expect("message type")[0]
        }

        fn ip_at(&self, offset: usize) -> Ipv4Addr {
            Ipv4Addr::from(<[u8; 4]>::try_from(&self.bootp[offset..offset + 4]).unwrap())
        }

        fn yiaddr(&self) -> Ipv4Addr {
            self.ip_at(OFF_YIADDR)
        }

        fn u32_option(&self, code: u8) -> u32 {
            u32::from_be_bytes(self.option(code).expect("option").try_into().unwrap())
        }
    }

    /// Checks the IPv4 header and UDP checksums of a frame the server sent.
    fn assert_checksums(frame: &[u8]) {
        let ip = &frame[14..];
        let header_len = usize::from(ip[0] & 0xf) * 4;
        assert_eq!(
            ones_complement(&[&ip[..header_len]]),
            0,
            "IPv4 header checksum"
        );
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        assert_eq!(total, ip.len(), "IPv4 total length");
        let udp = &ip[header_len..total];
        let udp_len = u16::from_be_bytes([udp[4], udp[5]]);
        assert_eq!(usize::from(udp_len), udp.len(), "UDP length");
        assert_ne!(&udp[6..8], &[0, 0], "UDP checksum present");
        let pseudo = [&ip[12..20], &[0, IPPROTO_UDP], &udp_len.to_be_bytes()].concat();
        assert_eq!(ones_complement(&[&pseudo, udp]), 0, "UDP checksum");
    }

    /// Takes a reply frame apart, checking its checksums and fixed fields.
    fn parse_reply(frame: &[u8]) -> Reply {
        assert_checksums(frame);
        assert_eq!(&frame[12..14], &ETHERTYPE_IPV4.to_be_bytes());
        let ip = &frame[14..];
        let udp = &ip[20..];
        let bootp = udp[8..].to_vec();
        assert!(
            bootp.len() >= BOOTP_MIN_LEN,
            "BOOTP message is {} bytes",
            bootp.len()
        );
        assert_eq!(&bootp[..3], &[BOOTREPLY, HTYPE_ETHERNET, HLEN_ETHERNET]);
        assert_eq!(&bootp[236..240], &MAGIC_COOKIE);
        let mut options = Vec::new();
        let mut i = 240;
        while bootp[i] != OPT_END {
            if bootp[i] == OPT_PAD {
                i += 1;
                continue;
            }
            let len = usize::from(bootp[i + 1]);
            options.push((bootp[i], bootp[i + 2..i + 2 + len].to_vec()));
            i += 2 + len;
        }
        Reply {
            eth_dst: frame[..6].try_into().unwrap(),
            eth_src: frame[6..12].try_into().unwrap(),
            ip_src: Ipv4Addr::from(<[u8; 4]>::try_from(&ip[12..16]).unwrap()),
            ip_dst: Ipv4Addr::from(<[u8; 4]>::try_from(&ip[16..20]).unwrap()),
            ttl: ip[8],
            ports: (
                u16::from_be_bytes([udp[0], udp[1]]),
                u16::from_be_bytes([udp[2], udp[3]]),
            ),
            bootp,
            options,
        }
    }

    fn reply(server: &mut DhcpServer, frame: &[u8]) -> Reply {
        parse_reply(&server.handle(frame).expect("a reply"))
    }

    /// Checks the options every OFFER and ACK carries.
    fn assert_configuration(reply: &Reply) {
        assert_eq!(reply.option(OPT_SERVER_ID), Some(&SERVER_IP.octets()[..]));
        assert_eq!(reply.option(OPT_SUBNET_MASK), Some(&[255, 255, 255, 0][..]));
        assert_eq!(reply.option(OPT_ROUTER), Some(&SERVER_IP.octets()[..]));
        assert_eq!(reply.option(OPT_DNS), Some(&DNS_IP.octets()[..]));
        assert_eq!(reply.option(OPT_DOMAIN_NAME), Some(&b"rack.test"[..]));
        assert_eq!(reply.option(OPT_BROADCAST), Some(&[10, 0, 2, 255][..]));
        assert_eq!(reply.ip_at(OFF_SIADDR), SERVER_IP);
        assert_eq!(reply.eth_src, SERVER_MAC);
        assert_eq!(reply.ip_src, SERVER_IP);
        assert_eq!(reply.ttl, REPLY_TTL);
        assert_eq!(reply.ports, (DHCP_SERVER_PORT, DHCP_CLIENT_PORT));
    }

    fn assert_lease_times(reply: &Reply) {
        assert_eq!(reply.u32_option(OPT_LEASE_TIME), LEASE_SECS);
        assert_eq!(reply.u32_option(OPT_RENEWAL_TIME), LEASE_SECS / 2);
        assert_eq!(reply.u32_option(OPT_REBINDING_TIME), LEASE_SECS / 8 * 7);
    }

    #[test]
    fn reservation_gets_its_address_and_hostname() {
        let mut server = server();
        let client = Client::new(BMC0_MAC);

        let offer = reply(&mut server, &client.discover());
        assert_eq!(offer.kind(), DHCPOFFER);
        assert_eq!(offer.yiaddr(), BMC0_IP);
        assert_eq!(offer.option(OPT_HOSTNAME), Some(&b"bmc0"[..]));
        assert_eq!(
            &offer.bootp[OFF_XID..OFF_XID + 4],
            &client.xid.to_be_bytes()
        );
        assert_eq!(&offer.bootp[OFF_CHADDR..OFF_CHADDR + 6], &BMC0_MAC);
        assert_eq!(offer.eth_dst, BMC0_MAC);
        assert_eq!(offer.ip_dst, BMC0_IP);
        assert_configuration(&offer);
        assert_lease_times(&offer);
        assert_eq!(offer.options[0].0, OPT_MESSAGE_TYPE);
        assert_eq!(offer.options[1].0, OPT_SERVER_ID);
        assert!(!server.leases()[0].bound);

        let ack = reply(&mut server, &client.request_selecting(SERVER_IP, BMC0_IP));
        assert_eq!(ack.kind(), DHCPACK);
        assert_eq!(ack.yiaddr(), BMC0_IP);
        assert_eq!(ack.option(OPT_HOSTNAME), Some(&b"bmc0"[..]));
        assert_eq!(ack.eth_dst, BMC0_MAC);
        assert_eq!(ack.ip_dst, BMC0_IP);
        assert_configuration(&ack);
        assert_lease_times(&ack);

        assert_eq!(
            server.leases(),
            vec![Lease {
                mac: BMC0_MAC,
                ip: BMC0_IP,
                hostname: Some("bmc0".to_string()),
                bound: true,
            }]
        );
    }

    #[test]
    fn broadcast_flag_gives_broadcast_replies() {
        let mut server = server();
        let mut client = Client::new(BMC1_MAC);
        client.broadcast = true;
        let offer = reply(&mut server, &client.discover());
        assert_eq!(offer.yiaddr(), BMC1_IP);
        assert_eq!(offer.eth_dst, BROADCAST_MAC);
        assert_eq!(offer.ip_dst, Ipv4Addr::BROADCAST);
        assert_eq!(&offer.bootp[OFF_FLAGS..OFF_FLAGS + 2], &[0x80, 0]);
    }

    #[test]
    fn unknown_clients_get_distinct_pool_addresses() {
        let mut server = server();
        let first = Client::new(unknown_mac(1));
        let second = Client::new(unknown_mac(2));
        let a = reply(&mut server, &first.discover()).yiaddr();
        let b = reply(&mut server, &second.discover()).yiaddr();
        // 10.0.2.15 is reserved, so the pool starts handing out at .16.
        assert_eq!(a, Ipv4Addr::new(10, 0, 2, 16));
        assert_eq!(b, Ipv4Addr::new(10, 0, 2, 17));
        assert_eq!(reply(&mut server, &first.discover()).yiaddr(), a);
        let ack = reply(&mut server, &first.request_selecting(SERVER_IP, a));
        assert_eq!(ack.kind(), DHCPACK);
        assert_eq!(ack.option(OPT_HOSTNAME), None);
        assert_eq!(reply(&mut server, &first.discover()).yiaddr(), a);
        let leases = server.leases();
        assert_eq!(leases.len(), 2);
        assert_eq!(leases[0].hostname.as_deref(), Some("udhcpc-host"));
    }

    #[test]
    fn discover_honours_a_free_requested_address() {
        let mut server = server();
        let wanted = Ipv4Addr::new(10, 0, 2, 25);
        let client = Client::new(unknown_mac(1));
        assert_eq!(
            reply(&mut server, &client.discover_asking_for(wanted)).yiaddr(),
            wanted
        );
        // Reserved, or outside the pool: the first free address instead.
        let other = Client::new(unknown_mac(2));
        let offer = reply(&mut server, &other.discover_asking_for(BMC0_IP));
        assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 0, 2, 16));
        let third = Client::new(unknown_mac(3));
        let offer = reply(&mut server, &third.discover_asking_for(wanted));
        assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 0, 2, 17));
    }

    #[test]
    fn request_for_another_clients_reservation_is_refused() {
        let mut server = server();
        // A machine restored from BMC0's snapshot, with its own MAC address.
        let clone = Client::new(unknown_mac(9));
        let nak = reply(&mut server, &clone.request_init_reboot(BMC0_IP));
        assert_eq!(nak.kind(), DHCPNAK);
        assert_eq!(nak.eth_dst, BROADCAST_MAC);
        assert_eq!(nak.ip_dst, Ipv4Addr::BROADCAST);
        assert_eq!(nak.yiaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(nak.option(OPT_SERVER_ID), Some(&SERVER_IP.octets()[..]));
        assert_eq!(nak.option(OPT_LEASE_TIME), None);
        assert!(server.leases().is_empty());

        // A reserved client asking for anything but its reservation.
        let bmc1 = Client::new(BMC1_MAC);
        let nak = reply(
            &mut server,
            &bmc1.request_init_reboot(Ipv4Addr::new(10, 0, 2, 20)),
        );
        assert_eq!(nak.kind(), DHCPNAK);
        let nak = reply(&mut server, &bmc1.request_selecting(SERVER_IP, BMC0_IP));
        assert_eq!(nak.kind(), DHCPNAK);
        // Another client's dynamic address.
        let owner = Client::new(unknown_mac(1));
        let taken = reply(&mut server, &owner.discover()).yiaddr();
        let nak = reply(&mut server, &clone.request_init_reboot(taken));
        assert_eq!(nak.kind(), DHCPNAK);
        // Outside the subnet.
        let nak = reply(
            &mut server,
            &clone.request_init_reboot(Ipv4Addr::new(192, 168, 1, 5)),
        );
        assert_eq!(nak.kind(), DHCPNAK);
    }

    #[test]
    fn init_reboot_keeps_a_free_pool_address() {
        // After the emulator restarts, a client asking for its old dynamic address gets it.
        let mut server = server();
        let client = Client::new(unknown_mac(4));
        let old = Ipv4Addr::new(10, 0, 2, 22);
        let ack = reply(&mut server, &client.request_init_reboot(old));
        assert_eq!(ack.kind(), DHCPACK);
        assert_eq!(ack.yiaddr(), old);
        assert_eq!(ack.eth_dst, client.mac);
        assert_eq!(ack.ip_dst, old);
        assert!(server.leases()[0].bound);
        let bmc0 = Client::new(BMC0_MAC);
        let ack = reply(&mut server, &bmc0.request_init_reboot(BMC0_IP));
        assert_eq!(ack.kind(), DHCPACK);
    }

    #[test]
    fn renewal_is_unicast_to_the_client() {
        let mut server = server();
        let client = Client::new(BMC0_MAC);
        let ack = reply(&mut server, &client.request_renewing(BMC0_IP));
        assert_eq!(ack.kind(), DHCPACK);
        assert_eq!(ack.yiaddr(), BMC0_IP);
        assert_eq!(ack.ip_at(OFF_CIADDR), BMC0_IP);
        assert_eq!(ack.eth_dst, BMC0_MAC);
        assert_eq!(ack.ip_dst, BMC0_IP);
        assert_lease_times(&ack);
    }

    #[test]
    fn request_for_another_server_is_ignored_and_withdraws_the_offer() {
        let mut server = server();
        let client = Client::new(unknown_mac(1));
        let offered = reply(&mut server, &client.discover()).yiaddr();
        let other_server = Ipv4Addr::new(10, 0, 2, 200);
        assert!(server
            .handle(&client.request_selecting(other_server, offered))
            .is_none());
        assert!(server.leases().is_empty());
        let next = Client::new(unknown_mac(2));
        assert_eq!(reply(&mut server, &next.discover()).yiaddr(), offered);
    }

    #[test]
    fn exhausted_pool_gives_no_offer() {
        let mut config = config();
        config.pool_start = Ipv4Addr::new(10, 0, 2, 40);
        config.pool_end = Ipv4Addr::new(10, 0, 2, 41);
        let mut server = DhcpServer::new(config).unwrap();
        let clients: Vec<Client> = (1..=4).map(|n| Client::new(unknown_mac(n))).collect();
        let first = reply(&mut server, &clients[0].discover()).yiaddr();
        reply(&mut server, &clients[1].discover());
        assert!(server.handle(&clients[2].discover()).is_none());
        assert!(server.handle(&clients[3].discover()).is_none());
        // Reservations still work.
        assert_eq!(
            reply(&mut server, &Client::new(BMC0_MAC).discover()).yiaddr(),
            BMC0_IP
        );
        // Once an address is released, it goes to the next client.
        reply(&mut server, &clients[0].request_selecting(SERVER_IP, first));
        assert!(server.handle(&clients[0].release(first)).is_none());
        assert_eq!(reply(&mut server, &clients[2].discover()).yiaddr(), first);
    }

    #[test]
    fn release_frees_the_address() {
        let mut server = server();
        let first = Client::new(unknown_mac(1));
        let ip = reply(&mut server, &first.discover()).yiaddr();
        reply(&mut server, &first.request_selecting(SERVER_IP, ip));
        // A release naming another address changes nothing.
        assert!(server
            .handle(&first.release(Ipv4Addr::new(10, 0, 2, 29)))
            .is_none());
        assert_eq!(server.leases().len(), 1);
        assert!(server.handle(&first.release(ip)).is_none());
        assert!(server.leases().is_empty());
        let second = Client::new(unknown_mac(2));
        assert_eq!(reply(&mut server, &second.discover()).yiaddr(), ip);
    }

    #[test]
    fn declined_address_is_not_offered_again() {
        let mut server = server();
        let client = Client::new(unknown_mac(1));
        let ip = reply(&mut server, &client.discover()).yiaddr();
        reply(&mut server, &client.request_selecting(SERVER_IP, ip));
        assert!(server.handle(&client.decline(ip)).is_none());
        assert!(server.leases().is_empty());
        let next = reply(&mut server, &client.discover()).yiaddr();
        assert_ne!(next, ip);
        let nak = reply(
            &mut server,
            &Client::new(unknown_mac(2)).request_init_reboot(ip),
        );
        assert_eq!(nak.kind(), DHCPNAK);
    }

    #[test]
    fn inform_gets_configuration_without_address_or_lease() {
        let mut server = server();
        let client = Client::new(BMC0_MAC);
        let ack = reply(&mut server, &client.inform(BMC0_IP));
        assert_eq!(ack.kind(), DHCPACK);
        assert_eq!(ack.yiaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(ack.ip_at(OFF_CIADDR), BMC0_IP);
        assert_eq!(ack.option(OPT_LEASE_TIME), None);
        assert_eq!(ack.option(OPT_RENEWAL_TIME), None);
        assert_eq!(ack.option(OPT_REBINDING_TIME), None);
        assert_eq!(ack.eth_dst, BMC0_MAC);
        assert_eq!(ack.ip_dst, BMC0_IP);
        assert_configuration(&ack);
        assert!(server.leases().is_empty());
    }

    #[test]
    fn ip_options_are_skipped() {
        let mut server = server();
        let mut client = Client::new(BMC0_MAC);
        // Router alert (RFC 2113), 4 bytes: IHL 6.
        client.ip_options = vec![0x94, 0x04, 0x00, 0x00];
        let frame = client.discover();
        assert!(DhcpServer::is_dhcp_client_frame(&frame));
        assert_eq!(reply(&mut server, &frame).yiaddr(), BMC0_IP);
    }

    #[test]
    fn client_without_optional_options_is_served() {
        let mut server = server();
        let mut client = Client::new(unknown_mac(7));
        client.client_id = false;
        client.hostname = None;
        let ip = reply(&mut server, &client.discover()).yiaddr();
        assert_eq!(server.leases()[0].hostname, None);
        let ack = reply(&mut server, &client.request_selecting(SERVER_IP, ip));
        assert_eq!(ack.kind(), DHCPACK);
    }

    #[test]
    fn classifies_frames() {
        let client = Client::new(BMC0_MAC);
        assert!(DhcpServer::is_dhcp_client_frame(&client.discover()));
        assert!(DhcpServer::is_dhcp_client_frame(&client.release(BMC0_IP)));

        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(&BMC0_MAC);
        arp.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        arp.extend_from_slice(&BMC0_MAC);
        arp.extend_from_slice(&BMC0_IP.octets());
        arp.extend_from_slice(&[0; 6]);
        arp.extend_from_slice(&SERVER_IP.octets());
        assert!(!DhcpServer::is_dhcp_client_frame(&arp));

        let dns = udp_frame(
            (BMC0_MAC, SERVER_MAC),
            (BMC0_IP, DNS_IP),
            (40000, 53),
            &[],
            &[0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0],
        );
        assert!(!DhcpServer::is_dhcp_client_frame(&dns));
        assert!(server().handle(&dns).is_none());

        // The server's own reply goes to port 68.
        let offer = server().handle(&client.discover()).unwrap();
        assert!(!DhcpServer::is_dhcp_client_frame(&offer));
    }

    #[test]
    fn ignores_malformed_messages() {
        let mut server = server();
        let client = Client::new(BMC0_MAC);
        let good = client.bootp(DHCPDISCOVER, Ipv4Addr::UNSPECIFIED, &[]);

        let mut no_cookie = good.clone();
        no_cookie[236] = 0;
        assert!(server.handle(&client.broadcast_frame(&no_cookie)).is_none());

        // An option whose length runs past the end of the message.
        let mut overrun = good[..OPTIONS_OFFSET].to_vec();
        overrun.extend_from_slice(&[OPT_MESSAGE_TYPE, 1, DHCPDISCOVER, OPT_HOSTNAME, 200, b'x']);
        assert!(server.handle(&client.broadcast_frame(&overrun)).is_none());

        let mut no_type = good[..OPTIONS_OFFSET].to_vec();
        no_type.push(OPT_END);
        assert!(server.handle(&client.broadcast_frame(&no_type)).is_none());

        let mut reply_op = good.clone();
        reply_op[0] = BOOTREPLY;
        assert!(server.handle(&client.broadcast_frame(&reply_op)).is_none());

        let mut tagged = client.discover();
        let tag = [ETHERTYPE_VLAN.to_be_bytes(), 5u16.to_be_bytes()].concat();
        tagged.splice(12..12, tag);
        assert!(server.handle(&tagged).is_none());

        let mut fragment = client.discover();
        fragment[14 + 6] = 0x20; // more fragments
        assert!(server.handle(&fragment).is_none());

        // The UDP length says the datagram is shorter than the BOOTP header.
        let mut short_udp = client.discover();
        short_udp[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&100u16.to_be_bytes());
        assert!(server.handle(&short_udp).is_none());
        assert!(server.leases().is_empty());
    }

    /// A xorshift64 generator, for reproducible junk.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn never_panics_on_junk() {
        let mut server = server();
        let client = Client::new(unknown_mac(1));
        let frames = [
            client.discover(),
            client.request_selecting(SERVER_IP, POOL_START),
            client.release(POOL_START),
        ];
        for frame in &frames {
            for len in 0..=frame.len() {
                let truncated = &frame[..len];
                DhcpServer::is_dhcp_client_frame(truncated);
                server.handle(truncated);
            }
        }

        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let len = rng.below(700);
            let soup: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            DhcpServer::is_dhcp_client_frame(&soup);
            server.handle(&soup);
        }

        // Valid headers with damaged bytes reach the option parser and the lease logic.
        for _ in 0..20_000 {
            let mut frame = frames[rng.below(frames.len())].clone();
            for _ in 0..=rng.below(8) {
                let at = 14 + 20 + 8 + rng.below(frame.len() - 42);
                frame[at] = rng.next() as u8;
            }
            if rng.below(4) == 0 {
                frame.truncate(rng.below(frame.len()));
            }
            if let Some(reply) = server.handle(&frame) {
                assert_checksums(&reply);
            }
        }
    }

    fn validation_error(edit: impl FnOnce(&mut DhcpConfig)) -> String {
        let mut config = config();
        edit(&mut config);
        let message = config.validate().expect_err("invalid configuration");
        assert_eq!(DhcpServer::new(config).unwrap_err(), message);
        message
    }

    fn reservation(config: &mut DhcpConfig, index: usize) -> &mut Reservation {
        &mut config.reservations[index]
    }

    #[test]
    fn validate_explains_problems() {
        assert_eq!(config().validate(), Ok(()));

        let message = validation_error(|c| c.netmask = Ipv4Addr::new(255, 0, 255, 0));
        assert_eq!(
            message,
            "netmask 255.0.255.0 is not a contiguous mask of /1 to /30"
        );
        let message = validation_error(|c| c.pool_end = Ipv4Addr::new(10, 0, 3, 30));
        assert_eq!(
            message,
            "DHCP pool end 10.0.3.30 is outside the subnet 10.0.2.0/24"
        );
        let message = validation_error(|c| c.pool_start = Ipv4Addr::new(10, 0, 2, 0));
        assert_eq!(
            message,
            "DHCP pool start 10.0.2.0 is the network address of 10.0.2.0/24"
        );
        let message = validation_error(|c| {
            c.pool_start = Ipv4Addr::new(10, 0, 2, 30);
            c.pool_end = Ipv4Addr::new(10, 0, 2, 15);
        });
        assert_eq!(
            message,
            "DHCP pool start 10.0.2.30 is after its end 10.0.2.15"
        );
        let message = validation_error(|c| c.pool_start = Ipv4Addr::new(10, 0, 2, 1));
        assert_eq!(
            message,
            "DHCP pool 10.0.2.1..=10.0.2.30 includes the server address 10.0.2.2"
        );
        let message = validation_error(|c| c.router = Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(
            message,
            "router 192.168.0.1 is outside the subnet 10.0.2.0/24"
        );

        let message = validation_error(|c| reservation(c, 1).ip = Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(
            message,
            "reservation for 02:00:00:00:00:02: address 10.1.2.3 is outside the subnet 10.0.2.0/24"
        );
        let message = validation_error(|c| reservation(c, 1).ip = DNS_IP);
        assert_eq!(
            message,
            "reservation for 02:00:00:00:00:02: address 10.0.2.3 is a DNS server address"
        );
        let message = validation_error(|c| reservation(c, 1).mac = BMC0_MAC);
        assert_eq!(
            message,
            "MAC address 02:00:00:00:00:01 has more than one reservation"
        );
        let message = validation_error(|c| reservation(c, 1).ip = BMC0_IP);
        assert_eq!(
            message,
            "reservations for 02:00:00:00:00:01 and 02:00:00:00:00:02 both claim 10.0.2.101"
        );
        let message = validation_error(|c| reservation(c, 0).hostname = Some(String::new()));
        assert_eq!(
            message,
            "reservation for 02:00:00:00:00:01: host name is empty"
        );
        let message = validation_error(|c| reservation(c, 0).hostname = Some("b".repeat(64)));
        assert!(
            message.ends_with("is longer than 63 characters"),
            "{message}"
        );
        let message = validation_error(|c| reservation(c, 0).hostname = Some("bmc_0".into()));
        assert_eq!(
            message,
            "reservation for 02:00:00:00:00:01: host name \"bmc_0\" has the character '_'; \
             only A-Z, a-z, 0-9, '-' and '.' are allowed"
        );
        let message = validation_error(|c| reservation(c, 0).mac = [0x01, 0, 0x5e, 0, 0, 1]);
        assert!(message.contains("multicast"), "{message}");
        let message = validation_error(|c| c.domain = Some("rack test".into()));
        assert!(
            message.starts_with("domain name \"rack test\" has the character ' '"),
            "{message}"
        );
        let message = validation_error(|c| c.lease_secs = 0);
        assert_eq!(message, "lease time must be at least one second");
        let message = validation_error(|c| c.dns = vec![DNS_IP; 64]);
        assert!(message.contains("too many"), "{message}");

        // A hostname of exactly 63 characters, and a reservation inside the pool, are fine.
        let mut config = config();
        config.reservations[0].hostname = Some("a".repeat(63));
        assert_eq!(config.validate(), Ok(()));
    }
}
