//! IPv4 ranges: parsing CIDRs, carving a cluster CIDR into per-node pod ranges, and a compact
//! bitmap of the pod addresses in use on one node.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// Why a CIDR did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{cidr:?} is not an IPv4 CIDR: {reason}")]
pub struct CidrError {
    /// The text given.
    pub cidr: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// An IPv4 network: a base address (host bits zero) and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    base: u32,
    prefix: u8,
}

impl Ipv4Cidr {
    /// The network of `addr/prefix` (host bits are cleared); `None` for a prefix above 32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Cidr> {
        (prefix <= 32).then(|| Ipv4Cidr {
            base: u32::from(addr) & mask(prefix),
            prefix,
        })
    }

    /// The network address.
    pub fn base(self) -> Ipv4Addr {
        Ipv4Addr::from(self.base)
    }

    /// The prefix length.
    pub fn prefix(self) -> u8 {
        self.prefix
    }

    /// How many addresses the network spans (2^(32 - prefix)).
    pub fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// Whether `addr` lies inside the network.
    pub fn contains(self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.prefix) == self.base
    }

    /// The `index`th subnet of length `prefix` inside this network, if there is one.
    pub fn subnet(self, prefix: u8, index: u64) -> Option<Ipv4Cidr> {
        if prefix < self.prefix || prefix > 32 {
            return None;
        }
        let count = 1u64 << (prefix - self.prefix);
        if index >= count {
            return None;
        }
        let step = 1u64 << (32 - u32::from(prefix));
        let base = u64::from(self.base) + index * step;
        Some(Ipv4Cidr {
            base: u32::try_from(base).ok()?,
            prefix,
        })
    }

    /// How many subnets of length `prefix` the network holds (0 if `prefix` is shorter).
    pub fn subnet_count(self, prefix: u8) -> u64 {
        if prefix < self.prefix || prefix > 32 {
            0
        } else {
            1u64 << (prefix - self.prefix)
        }
    }

    /// The address at `offset` from the network address (wrapping inside the network).
    pub fn nth(self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base | (offset & !mask(self.prefix)))
    }

    /// The offset of `addr` from the network address, if it lies inside.
    pub fn offset_of(self, addr: Ipv4Addr) -> Option<u32> {
        self.contains(addr).then(|| u32::from(addr) - self.base)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = |reason| CidrError {
            cidr: s.to_owned(),
            reason,
        };
        let (addr, prefix) = s.split_once('/').ok_or_else(|| error("no prefix length"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| error("bad address"))?;
        let prefix: u8 = prefix.parse().map_err(|_| error("bad prefix length"))?;
        let cidr = Ipv4Cidr::new(addr, prefix).ok_or_else(|| error("prefix above 32"))?;
        if cidr.base != u32::from(addr) {
            return Err(error("host bits are set"));
        }
        Ok(cidr)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base(), self.prefix)
    }
}

/// The most pod addresses one node's pool tracks (a /16); larger pod ranges use their start.
const MAX_POOL: u64 = 1 << 16;

/// The pod addresses in use on one node: a bitmap over the node's pod range, allocated on
/// first use (32 bytes for a /24). Offsets 0 (network) and 1 (gateway) and the broadcast
/// address are never handed out.
#[derive(Debug, Default)]
pub struct IpPool {
    bits: Option<Box<[u64]>>,
}

impl IpPool {
    fn usable(cidr: Ipv4Cidr) -> u32 {
        // Offsets below this are handed out; the last one is the broadcast address.
        let size = cidr.size().min(MAX_POOL);
        let last = if cidr.size() > MAX_POOL {
            size
        } else {
            size - 1
        };
        u32::try_from(last).unwrap_or(u32::MAX)
    }

    fn words(&mut self, cidr: Ipv4Cidr) -> &mut [u64] {
        let len = cidr.size().min(MAX_POOL).div_ceil(64) as usize;
        self.bits
            .get_or_insert_with(|| vec![0u64; len].into_boxed_slice())
    }

    /// Takes the lowest free address of `cidr`, if any is left.
    pub fn allocate(&mut self, cidr: Ipv4Cidr) -> Option<Ipv4Addr> {
        let end = Self::usable(cidr);
        let words = self.words(cidr);
        for offset in 2..end {
            let (word, bit) = ((offset / 64) as usize, offset % 64);
            if words[word] & (1 << bit) == 0 {
                words[word] |= 1 << bit;
                return Some(cidr.nth(offset));
            }
        }
        None
    }

    /// Marks `addr` as in use (an address found on a pod adopted after a restart); `false`
    /// if it lies outside the usable addresses.
    pub fn reserve(&mut self, cidr: Ipv4Cidr, addr: Ipv4Addr) -> bool {
        let Some(offset) = cidr.offset_of(addr) else {
            return false;
        };
        if offset < 2 || offset >= Self::usable(cidr) {
            return false;
        }
        let words = self.words(cidr);
        words[(offset / 64) as usize] |= 1 << (offset % 64);
        true
    }

    /// Returns `addr` to the pool.
    pub fn release(&mut self, cidr: Ipv4Cidr, addr: Ipv4Addr) {
        let (Some(offset), Some(words)) = (cidr.offset_of(addr), self.bits.as_mut()) else {
            return;
        };
        if let Some(word) = words.get_mut((offset / 64) as usize) {
            *word &= !(1 << (offset % 64));
        }
        if words.iter().all(|w| *w == 0) {
            self.bits = None;
        }
    }

    /// How many addresses are in use.
    pub fn in_use(&self) -> u32 {
        self.bits
            .as_ref()
            .map_or(0, |w| w.iter().map(|w| w.count_ones()).sum())
    }
}

/// The fake InternalIP of the node with `index`: 10.255.x.y, y in 1..=254. Never contacted.
pub fn node_ip(index: u32) -> Ipv4Addr {
    let (high, low) = (index / 254, index % 254 + 1);
    Ipv4Addr::new(10, 255, (high % 256) as u8, low as u8)
}

/// How many nodes get distinct [`node_ip`]s.
pub const MAX_NODES: u32 = 256 * 254;

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(cidr("10.42.0.0/16").to_string(), "10.42.0.0/16");
        assert_eq!(cidr("0.0.0.0/0").size(), 1 << 32);
        assert!("10.42.0.1/16".parse::<Ipv4Cidr>().is_err());
        assert!("10.42.0.0".parse::<Ipv4Cidr>().is_err());
        assert!("10.42.0.0/33".parse::<Ipv4Cidr>().is_err());
        assert!("fd00::/8".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn carves_per_node_subnets_by_index() {
        let cluster = cidr("10.42.0.0/16");
        assert_eq!(cluster.subnet(24, 0), Some(cidr("10.42.0.0/24")));
        assert_eq!(cluster.subnet(24, 7), Some(cidr("10.42.7.0/24")));
        assert_eq!(cluster.subnet(24, 255), Some(cidr("10.42.255.0/24")));
        assert_eq!(cluster.subnet(24, 256), None);
        assert_eq!(cluster.subnet_count(24), 256);
        assert_eq!(cluster.subnet(26, 5), Some(cidr("10.42.1.64/26")));
        assert_eq!(cluster.subnet(8, 0), None);
    }

    #[test]
    fn allocates_lowest_free_skipping_network_gateway_and_broadcast() {
        let range = cidr("10.42.3.0/30");
        let mut pool = IpPool::default();
        assert_eq!(pool.allocate(range), Some(Ipv4Addr::new(10, 42, 3, 2)));
        assert_eq!(pool.allocate(range), None, ".3 is the broadcast address");
        let range = cidr("10.42.3.0/24");
        let mut pool = IpPool::default();
        let a = pool.allocate(range).unwrap();
        let b = pool.allocate(range).unwrap();
        assert_eq!(
            (a, b),
            (Ipv4Addr::new(10, 42, 3, 2), Ipv4Addr::new(10, 42, 3, 3))
        );
        pool.release(range, a);
        assert_eq!(pool.allocate(range), Some(a), "freed addresses are reused");
        assert_eq!(pool.in_use(), 2);
        let all: Vec<_> = std::iter::from_fn(|| pool.allocate(range)).collect();
        assert_eq!(all.len(), 256 - 3 - 2);
        assert_eq!(all.last(), Some(&Ipv4Addr::new(10, 42, 3, 254)));
    }

    #[test]
    fn pool_memory_is_released_when_empty() {
        let range = cidr("10.42.3.0/24");
        let mut pool = IpPool::default();
        let a = pool.allocate(range).unwrap();
        assert!(pool.bits.is_some());
        pool.release(range, a);
        assert!(pool.bits.is_none());
    }

    #[test]
    fn reserves_adopted_addresses() {
        let range = cidr("10.42.3.0/24");
        let mut pool = IpPool::default();
        assert!(pool.reserve(range, Ipv4Addr::new(10, 42, 3, 2)));
        assert!(!pool.reserve(range, Ipv4Addr::new(10, 42, 4, 2)));
        assert!(!pool.reserve(range, Ipv4Addr::new(10, 42, 3, 1)));
        assert_eq!(pool.allocate(range), Some(Ipv4Addr::new(10, 42, 3, 3)));
    }

    #[test]
    fn large_ranges_track_their_first_addresses() {
        let range = cidr("10.0.0.0/8");
        let mut pool = IpPool::default();
        assert_eq!(pool.allocate(range), Some(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(pool.bits.as_ref().map(|b| b.len()), Some(1024));
    }

    #[test]
    fn node_ips_are_distinct_and_avoid_zero_and_broadcast() {
        assert_eq!(node_ip(0), Ipv4Addr::new(10, 255, 0, 1));
        assert_eq!(node_ip(253), Ipv4Addr::new(10, 255, 0, 254));
        assert_eq!(node_ip(254), Ipv4Addr::new(10, 255, 1, 1));
        let ips: std::collections::HashSet<_> = (0..MAX_NODES).map(node_ip).collect();
        assert_eq!(ips.len(), MAX_NODES as usize);
    }
}
