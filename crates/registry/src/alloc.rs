//! Cluster IPs and node ports for Services, each handed out once: an
//! allocation is a key created in the store (create-if-absent), so two
//! servers sharing a store cannot give out the same one either.

use bytes::Bytes;
use rkube_store::{Error as StoreError, Store};
use std::net::Ipv4Addr;

/// The range node ports come from.
pub const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// Allocates service cluster IPs from a CIDR and node ports from their range.
#[derive(Debug, Clone)]
pub struct Allocator {
    base: u32,
    size: u32,
}

/// Why an allocation failed.
#[derive(Debug, thiserror::Error)]
pub enum AllocError {
    /// The address or port is taken.
    #[error("provided {what} is already allocated")]
    Taken {
        /// "IP" or "port".
        what: &'static str,
    },
    /// The address is outside the service CIDR.
    #[error("provided IP is not in the valid range. The range of valid IPs is {range}")]
    OutOfRange {
        /// The service CIDR.
        range: String,
    },
    /// Nothing is left.
    #[error("range is full")]
    Full,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parses `a.b.c.d/n`.
pub fn parse_cidr(cidr: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, bits) = cidr.split_once('/')?;
    let bits: u8 = bits.parse().ok().filter(|b| *b <= 30)?;
    Some((ip.parse().ok()?, bits))
}

impl Allocator {
    /// An allocator for the service CIDR (e.g. `10.43.0.0/16`).
    pub fn new(service_cidr: &str) -> Option<Self> {
        let (ip, bits) = parse_cidr(service_cidr)?;
        let size = 1u32 << (32 - bits);
        let base = u32::from(ip) & !(size - 1);
        Some(Allocator { base, size })
    }

    /// The first usable address: the `kubernetes` Service's.
    pub fn first_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    fn cidr(&self) -> String {
        format!(
            "{}/{}",
            Ipv4Addr::from(self.base),
            32 - self.size.trailing_zeros()
        )
    }

    fn ip_key(ip: Ipv4Addr) -> String {
        format!("/registry/ranges/serviceips/{ip}")
    }

    fn port_key(port: u16) -> String {
        format!("/registry/ranges/servicenodeports/{port}")
    }

    async fn claim(store: &dyn Store, key: &str, what: &'static str) -> Result<(), AllocError> {
        match store.create(key, Bytes::new(), None).await {
            Ok(_) => Ok(()),
            Err(StoreError::AlreadyExists { .. }) => Err(AllocError::Taken { what }),
            Err(err) => Err(err.into()),
        }
    }

    /// Claims a given cluster IP.
    pub async fn claim_ip(&self, store: &dyn Store, ip: Ipv4Addr) -> Result<(), AllocError> {
        let n = u32::from(ip);
        if n <= self.base || n >= self.base + self.size - 1 {
            return Err(AllocError::OutOfRange { range: self.cidr() });
        }
        Self::claim(store, &Self::ip_key(ip), "IP").await
    }

    /// Claims a free cluster IP, starting from a random one.
    pub async fn next_ip(&self, store: &dyn Store) -> Result<Ipv4Addr, AllocError> {
        let usable = self.size - 2;
        let start = random_u32() % usable;
        // The first address is reserved for the `kubernetes` Service.
        for i in 0..usable {
            let offset = (start + i) % usable + 1;
            if offset == 1 {
                continue;
            }
            let ip = Ipv4Addr::from(self.base + offset);
            match Self::claim(store, &Self::ip_key(ip), "IP").await {
                Ok(()) => return Ok(ip),
                Err(AllocError::Taken { .. }) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(AllocError::Full)
    }

    /// Claims a given node port.
    pub async fn claim_port(&self, store: &dyn Store, port: u16) -> Result<(), AllocError> {
        Self::claim(store, &Self::port_key(port), "port").await
    }

    /// Claims a free node port, starting from a random one.
    pub async fn next_port(&self, store: &dyn Store) -> Result<u16, AllocError> {
        let (low, count) = (*NODE_PORTS.start() as u32, NODE_PORTS.len() as u32);
        let start = random_u32() % count;
        for i in 0..count {
            let port = (low + (start + i) % count) as u16;
            match Self::claim(store, &Self::port_key(port), "port").await {
                Ok(()) => return Ok(port),
                Err(AllocError::Taken { .. }) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(AllocError::Full)
    }

    /// Releases a cluster IP.
    pub async fn release_ip(&self, store: &dyn Store, ip: Ipv4Addr) {
        let _ = store.delete_any(&Self::ip_key(ip)).await;
    }

    /// Releases a node port.
    pub async fn release_port(&self, store: &dyn Store, port: u16) {
        let _ = store.delete_any(&Self::port_key(port)).await;
    }
}

fn random_u32() -> u32 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_ip_is_the_kubernetes_services() {
        let a = Allocator::new("10.43.0.0/16").unwrap();
        assert_eq!(a.first_ip(), Ipv4Addr::new(10, 43, 0, 1));
        assert_eq!(a.cidr(), "10.43.0.0/16");
    }
}
