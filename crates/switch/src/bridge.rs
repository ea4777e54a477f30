//! The learning bridge (IEEE 802.1D's forwarding, without spanning tree): it learns which port
//! each source MAC address is behind, sends a frame to the one port its destination is behind,
//! and floods broadcasts, multicasts and unknown destinations to every other port.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// A port's number on the switch.
pub type PortId = u32;

/// 802.1D's default ageing time: an address not seen for this long is forgotten.
pub const DEFAULT_AGEING: Duration = Duration::from_secs(300);

/// Where a frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// To this port only.
    Port(PortId),
    /// To every port but the one it came in on.
    Flood,
    /// Nowhere: a runt, or a destination behind the port it came from.
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    port: PortId,
    seen: Instant,
}

/// The forwarding table.
#[derive(Debug)]
pub struct Bridge {
    ports: BTreeSet<PortId>,
    table: HashMap<[u8; 6], Entry>,
    ageing: Duration,
}

/// Whether an address is a group (multicast or broadcast) address: the I/G bit.
fn is_group(mac: &[u8; 6]) -> bool {
    mac[0] & 1 != 0
}

impl Bridge {
    /// An empty bridge forgetting addresses after `ageing`.
    pub fn new(ageing: Duration) -> Self {
        Bridge {
            ports: BTreeSet::new(),
            table: HashMap::new(),
            ageing,
        }
    }

    /// Adds a port.
    pub fn add_port(&mut self, port: PortId) {
        self.ports.insert(port);
    }

    /// Removes a port and forgets the addresses behind it.
    pub fn remove_port(&mut self, port: PortId) {
        self.ports.remove(&port);
        self.table.retain(|_, e| e.port != port);
    }

    /// The ports, in order.
    pub fn ports(&self) -> impl Iterator<Item = PortId> + '_ {
        self.ports.iter().copied()
    }

    /// Learns `frame`'s source on `ingress` and says where the frame goes.
    pub fn forward(&mut self, ingress: PortId, frame: &[u8], now: Instant) -> Forward {
        if frame.len() < 14 || !self.ports.contains(&ingress) {
            return Forward::Drop;
        }
        let dst: [u8; 6] = frame[0..6].try_into().unwrap();
        let src: [u8; 6] = frame[6..12].try_into().unwrap();
        if !is_group(&src) {
            self.table.insert(
                src,
                Entry {
                    port: ingress,
                    seen: now,
                },
            );
        }
        if is_group(&dst) {
            return Forward::Flood;
        }
        match self.table.get(&dst) {
            Some(e) if now.saturating_duration_since(e.seen) < self.ageing => {
                if e.port == ingress {
                    Forward::Drop
                } else {
                    Forward::Port(e.port)
                }
            }
            _ => Forward::Flood,
        }
    }

    /// The addresses learned and not aged out, with their ports, sorted by address.
    pub fn table(&self, now: Instant) -> Vec<([u8; 6], PortId)> {
        let mut t: Vec<_> = self
            .table
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.seen) < self.ageing)
            .map(|(m, e)| (*m, e.port))
            .collect();
        t.sort();
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];
    const BROADCAST: [u8; 6] = [0xff; 6];

    fn frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x08, 0x00]);
        f.resize(60, 0);
        f
    }

    fn bridge() -> Bridge {
        let mut b = Bridge::new(DEFAULT_AGEING);
        for p in 1..=3 {
            b.add_port(p);
        }
        b
    }

    #[test]
    fn unknown_destinations_flood_until_learned() {
        let mut b = bridge();
        let t = Instant::now();
        assert_eq!(b.forward(1, &frame(B, A), t), Forward::Flood);
        assert_eq!(b.forward(2, &frame(A, B), t), Forward::Port(1));
        assert_eq!(b.forward(1, &frame(B, A), t), Forward::Port(2));
        assert_eq!(b.forward(1, &frame(BROADCAST, A), t), Forward::Flood);
        assert_eq!(b.table(t), vec![(A, 1), (B, 2)]);
    }

    #[test]
    fn a_destination_behind_the_ingress_port_is_dropped() {
        let mut b = bridge();
        let t = Instant::now();
        b.forward(1, &frame(BROADCAST, A), t);
        assert_eq!(b.forward(1, &frame(A, B), t), Forward::Drop);
        assert_eq!(b.forward(1, &[0u8; 13], t), Forward::Drop, "a runt");
        assert_eq!(b.forward(9, &frame(A, B), t), Forward::Drop, "no such port");
    }

    #[test]
    fn addresses_move_age_out_and_go_with_their_port() {
        let mut b = bridge();
        let t = Instant::now();
        b.forward(1, &frame(BROADCAST, A), t);
        b.forward(3, &frame(BROADCAST, A), t);
        assert_eq!(b.forward(2, &frame(A, B), t), Forward::Port(3), "A moved");
        let later = t + DEFAULT_AGEING;
        assert_eq!(
            b.forward(2, &frame(A, B), later),
            Forward::Flood,
            "aged out"
        );
        b.forward(3, &frame(BROADCAST, A), later);
        b.remove_port(3);
        assert_eq!(b.forward(2, &frame(A, B), later), Forward::Flood);
        assert_eq!(b.ports().collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn group_sources_are_not_learned() {
        let mut b = bridge();
        let t = Instant::now();
        b.forward(1, &frame(A, BROADCAST), t);
        assert!(b.table(t).is_empty());
    }
}
