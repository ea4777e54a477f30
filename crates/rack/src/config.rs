//! A rack's description: a TOML file (`ast-emu rack CONFIG.toml`) or the shorthand flags
//! (`ast-emu rack --count N --flash IMG`), resolved into one [`BmcPlan`] per BMC.
//!
//! ```toml
//! count = 3                 # BMCs bmc1..bmc3, unless [[bmc]] tables list them
//! flash = "image.mtd"       # each BMC's flash (default: the emulator's built-in image)
//! # snapshot = "warm.snap"  # start each BMC from this snapshot instead (--restore)
//! ssh-port = 2200           # BMC k's SSH (22) at 127.0.0.1:2200+k
//! https-port = 4400         # BMC k's HTTPS (443) at 127.0.0.1:4400+k
//! http-port = 8000          # BMC k's HTTP (80) at 127.0.0.1:8000+k (0: none)
//! network = "10.0.2.0/24"   # the management network; the gateway (the host) is .2, DNS .3
//! first-address = 101       # BMC k gets network + 100 + k by DHCP
//! args = ["--persist"]      # given to every emulator
//! boot-at-once = 8          # cold boots running at once; the others wait (0: no limit;
//!                           # default 4 per host CPU). BMCs from a snapshot never wait.
//! # after-restore = ["..."] # console lines typed into each BMC restored from a snapshot
//!
//! [[bmc]]                   # optional, one table per BMC, in order
//! name = "bmc1"
//! flash = "other.mtd"
//! args = []
//! ```

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The most BMCs one rack holds: the host part of a /24 after the first address.
pub const MAX_BMCS: usize = 150;

/// One `[[bmc]]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BmcEntry {
    /// Its name (also its host name): `bmcK` by default.
    pub name: Option<String>,
    /// Its flash image, instead of the rack's.
    pub flash: Option<PathBuf>,
    /// Its snapshot, instead of the rack's.
    pub snapshot: Option<PathBuf>,
    /// More emulator arguments, after the rack's.
    #[serde(default)]
    pub args: Vec<String>,
}

/// The file's contents.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RackFile {
    /// How many BMCs, when no `[[bmc]]` tables list them.
    pub count: Option<usize>,
    /// The flash image of every BMC (relative to the file).
    pub flash: Option<PathBuf>,
    /// The snapshot every BMC starts from (relative to the file).
    pub snapshot: Option<PathBuf>,
    /// BMC k's SSH is at this port + k.
    #[serde(default = "default_ssh_port")]
    pub ssh_port: u16,
    /// BMC k's HTTPS is at this port + k.
    #[serde(default = "default_https_port")]
    pub https_port: u16,
    /// BMC k's HTTP is at this port + k; 0 for none.
    #[serde(default)]
    pub http_port: u16,
    /// The management network, `A.B.C.0/24`.
    #[serde(default = "default_network")]
    pub network: String,
    /// BMC k's address is the network's + first-address - 1 + k.
    #[serde(default = "default_first_address")]
    pub first_address: u8,
    /// Arguments for every emulator.
    #[serde(default)]
    pub args: Vec<String>,
    /// Console lines typed into each BMC restored from a snapshot, once it runs, so the clones
    /// of one machine take their own identity: `{name}`, `{mac}`, `{address}` and `{index}`
    /// are replaced by the BMC's. (The snapshot must be of a shell prompt.)
    #[serde(default)]
    pub after_restore: Vec<String>,
    /// At most this many BMCs boot cold at once; the others wait their turn (`None`: 4 per
    /// host CPU; 0: no limit). A guest starved of CPU time by many boots at once runs late
    /// against the host: u-boot's watchdog can expire and reset it, again and again.
    #[serde(default)]
    pub boot_at_once: Option<usize>,
    /// The BMCs, one table each.
    #[serde(default)]
    pub bmc: Vec<BmcEntry>,
}

fn default_ssh_port() -> u16 {
    2200
}
fn default_https_port() -> u16 {
    4400
}
fn default_network() -> String {
    "10.0.2.0/24".into()
}
fn default_first_address() -> u8 {
    101
}

impl RackFile {
    /// The shorthand: `count` BMCs of one flash image (or the built-in one) or snapshot.
    pub fn shorthand(count: usize, flash: Option<PathBuf>, snapshot: Option<PathBuf>) -> Self {
        RackFile {
            count: Some(count),
            flash,
            snapshot,
            ssh_port: default_ssh_port(),
            https_port: default_https_port(),
            http_port: 0,
            network: default_network(),
            first_address: default_first_address(),
            args: Vec::new(),
            after_restore: Vec::new(),
            boot_at_once: None,
            bmc: Vec::new(),
        }
    }

    /// How many cold boots may run at once ([`RackFile::boot_at_once`]; `usize::MAX`: no
    /// limit).
    pub fn boot_limit(&self) -> usize {
        match self.boot_at_once {
            Some(0) => usize::MAX,
            Some(n) => n,
            None => 4 * std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// Reads and checks a rack file; paths in it are relative to its folder.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let mut file: RackFile =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rebase = |p: &mut Option<PathBuf>| {
            if let Some(p) = p {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        };
        rebase(&mut file.flash);
        rebase(&mut file.snapshot);
        for b in &mut file.bmc {
            rebase(&mut b.flash);
            rebase(&mut b.snapshot);
        }
        Ok(file)
    }

    /// The network's first three octets.
    fn network_prefix(&self) -> Result<[u8; 3], String> {
        let bad = || {
            format!(
                "network = {:?}: expected a /24 network such as 10.0.2.0/24",
                self.network
            )
        };
        let (addr, len) = self.network.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let o = addr.octets();
        if len != "24" || o[3] != 0 {
            return Err(bad());
        }
        Ok([o[0], o[1], o[2]])
    }

    /// One plan per BMC, checked: names unique and usable as host names, ports and addresses
    /// in range.
    pub fn plan(&self) -> Result<Vec<BmcPlan>, String> {
        let entries: Vec<BmcEntry> = match (self.count, self.bmc.len()) {
            (Some(n), 0) => vec![BmcEntry::default(); n],
            (None, 0) => {
                return Err("the rack has no BMCs: give count = N or [[bmc]] tables".into())
            }
            (Some(n), m) if n != m => return Err(format!("count = {n} but {m} [[bmc]] tables")),
            _ => self.bmc.clone(),
        };
        if entries.is_empty() || entries.len() > MAX_BMCS {
            return Err(format!(
                "a rack holds 1 to {MAX_BMCS} BMCs, not {}",
                entries.len()
            ));
        }
        let prefix = self.network_prefix()?;
        let last = usize::from(self.first_address) + entries.len() - 1;
        if self.first_address < 4 || last > 254 {
            return Err(format!(
                "first-address = {}: the {} BMCs need host numbers 4..=254 (the gateway is .2, DNS .3)",
                self.first_address,
                entries.len()
            ));
        }
        let port = |base: u16, k: usize, what: &str| -> Result<u16, String> {
            u16::try_from(usize::from(base) + k)
                .map_err(|_| format!("{what} = {base}: BMC {k}'s port is past 65535"))
        };
        let mut plans = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let k = i + 1;
            let name = e.name.clone().unwrap_or_else(|| format!("bmc{k}"));
            check_hostname(&name)?;
            if plans.iter().any(|p: &BmcPlan| p.name == name) {
                return Err(format!("two BMCs are named {name:?}"));
            }
            let host = self.first_address + i as u8;
            let mac = [0x02, 0xa5, 0x7e, 0x01, (k >> 8) as u8, k as u8];
            let address = Ipv4Addr::new(prefix[0], prefix[1], prefix[2], host);
            let snapshot = e.snapshot.clone().or_else(|| self.snapshot.clone());
            let after_restore = match snapshot {
                Some(_) => self
                    .after_restore
                    .iter()
                    .map(|line| {
                        line.replace("{name}", &name)
                            .replace("{mac}", &mac_text(&mac))
                            .replace("{address}", &address.to_string())
                            .replace("{index}", &k.to_string())
                    })
                    .collect(),
                None => Vec::new(),
            };
            plans.push(BmcPlan {
                index: k,
                name,
                flash: e.flash.clone().or_else(|| self.flash.clone()),
                snapshot,
                mac,
                address,
                after_restore,
                ssh_port: port(self.ssh_port, k, "ssh-port")?,
                https_port: port(self.https_port, k, "https-port")?,
                http_port: if self.http_port == 0 {
                    None
                } else {
                    Some(port(self.http_port, k, "http-port")?)
                },
                args: self.args.iter().chain(&e.args).cloned().collect(),
            });
        }
        Ok(plans)
    }

    /// The management network's gateway (the host, slirp's address).
    pub fn gateway(&self) -> Result<Ipv4Addr, String> {
        let p = self.network_prefix()?;
        Ok(Ipv4Addr::new(p[0], p[1], p[2], 2))
    }

    /// The network's DNS forwarder.
    pub fn dns(&self) -> Result<Ipv4Addr, String> {
        let p = self.network_prefix()?;
        Ok(Ipv4Addr::new(p[0], p[1], p[2], 3))
    }

    /// The network's address.
    pub fn network_address(&self) -> Result<Ipv4Addr, String> {
        let p = self.network_prefix()?;
        Ok(Ipv4Addr::new(p[0], p[1], p[2], 0))
    }
}

/// A host name (RFC 1123 label): 1 to 63 letters, digits and hyphens, not starting or ending
/// with a hyphen.
fn check_hostname(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "BMC name {name:?} is not a host name (1-63 letters, digits and inner hyphens)"
        ))
    }
}

/// Everything about one BMC of the rack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmcPlan {
    /// Its number, from 1.
    pub index: usize,
    /// Its name and host name.
    pub name: String,
    /// Its flash image (None: the built-in one).
    pub flash: Option<PathBuf>,
    /// The snapshot it starts from, if any.
    pub snapshot: Option<PathBuf>,
    /// Its NIC's hardware address, 02:a5:7e:01:HI:LO for BMC HI*256+LO.
    pub mac: [u8; 6],
    /// The address DHCP gives it.
    pub address: Ipv4Addr,
    /// The host port forwarded to its SSH.
    pub ssh_port: u16,
    /// The host port forwarded to its HTTPS.
    pub https_port: u16,
    /// The host port forwarded to its HTTP, if any.
    pub http_port: Option<u16>,
    /// More emulator arguments.
    pub args: Vec<String>,
    /// Console lines typed once it runs, restored from a snapshot (placeholders replaced).
    pub after_restore: Vec<String>,
}

/// `02:a5:7e:...`.
fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl BmcPlan {
    /// The MAC as text.
    pub fn mac_text(&self) -> String {
        mac_text(&self.mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shorthand_plans_numbered_bmcs() {
        let plans = RackFile::shorthand(3, Some("img".into()), None)
            .plan()
            .unwrap();
        assert_eq!(plans.len(), 3);
        assert_eq!(plans[1].name, "bmc2");
        assert_eq!(plans[1].address, Ipv4Addr::new(10, 0, 2, 102));
        assert_eq!(plans[1].ssh_port, 2202);
        assert_eq!(plans[1].https_port, 4402);
        assert_eq!(plans[1].mac_text(), "02:a5:7e:01:00:02");
        assert_eq!(plans[2].flash, Some(PathBuf::from("img")));
        assert!(plans[0].after_restore.is_empty());
        let mut restored = RackFile::shorthand(2, None, Some("warm.snap".into()));
        restored.after_restore =
            vec!["ip link set eth0 address {mac}; hostname {name} # {address} {index}".into()];
        assert_eq!(
            restored.plan().unwrap()[1].after_restore,
            ["ip link set eth0 address 02:a5:7e:01:00:02; hostname bmc2 # 10.0.2.102 2"]
        );
    }

    #[test]
    fn a_file_is_read_and_checked() {
        let file: RackFile = toml::from_str(
            r#"
            ssh-port = 3000
            network = "192.168.7.0/24"
            args = ["--persist"]
            [[bmc]]
            name = "left"
            [[bmc]]
            name = "right"
            args = ["--log", "warn"]
        "#,
        )
        .unwrap();
        let plans = file.plan().unwrap();
        assert_eq!(plans[0].name, "left");
        assert_eq!(plans[1].ssh_port, 3002);
        assert_eq!(plans[1].address, Ipv4Addr::new(192, 168, 7, 102));
        assert_eq!(plans[1].args, ["--persist", "--log", "warn"]);
        assert_eq!(file.gateway().unwrap(), Ipv4Addr::new(192, 168, 7, 2));

        let bad = |text: &str| {
            toml::from_str::<RackFile>(text)
                .map_err(|e| e.to_string())
                .and_then(|f| f.plan().map(|_| ()))
        };
        assert!(bad("count = 0").unwrap_err().contains("1 to"));
        assert!(bad("").unwrap_err().contains("no BMCs"));
        assert!(bad("count = 2\n[[bmc]]\n")
            .unwrap_err()
            .contains("count = 2"));
        assert!(bad("count = 1\nnetwork = \"10.0.0.0/16\"")
            .unwrap_err()
            .contains("/24"));
        assert!(bad("count = 200").is_err());
        assert!(bad("count = 1\nssh-port = 65535")
            .unwrap_err()
            .contains("65535"));
        assert!(bad("[[bmc]]\nname = \"a b\"")
            .unwrap_err()
            .contains("host name"));
        assert!(bad("[[bmc]]\nname = \"a\"\n[[bmc]]\nname = \"a\"")
            .unwrap_err()
            .contains("two BMCs"));
        assert!(bad("count = 1\nsize = 3")
            .unwrap_err()
            .contains("unknown field"));
        assert!(bad("count = 1\nboot-at-once = -1").is_err());

        let limit = |text: &str| toml::from_str::<RackFile>(text).unwrap().boot_limit();
        assert_eq!(limit("count = 9\nboot-at-once = 3"), 3);
        assert_eq!(
            limit("count = 9\nboot-at-once = 0"),
            usize::MAX,
            "0: no limit"
        );
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert_eq!(limit("count = 9"), 4 * cpus);
    }
}
