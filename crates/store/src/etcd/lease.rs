//! TTLs as etcd leases, reused across writes like kube-apiserver's lease
//! manager does, so that many short-lived keys (events) do not cost one
//! lease each.

use super::etcd_error;
use crate::Result;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The longest time (seconds) a lease is handed out for new writes.
const MAX_REUSE_SECS: i64 = 60;
/// The share of the TTL (percent) during which a lease is handed out for new writes.
const REUSE_PERCENT: i64 = 5;

/// A TTL in whole etcd seconds: rounded up, at least 1.
pub(super) fn ttl_seconds(ttl: Duration) -> i64 {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
}

/// How long (whole seconds) a lease granted for `ttl_secs` may be reused:
/// 5 % of the TTL, at most 60 s; 0 means not at all.
pub(super) fn reuse_seconds(ttl_secs: i64) -> i64 {
    (ttl_secs.saturating_mul(REUSE_PERCENT) / 100).min(MAX_REUSE_SECS)
}

/// A lease handed out for one TTL.
#[derive(Debug, Clone, Copy)]
struct Reusable {
    id: i64,
    /// After this instant the lease is no longer given to new writes.
    until: Instant,
}

/// Grants leases and hands the same lease to writes with the same TTL
/// during its reuse window.
///
/// A lease for TTL `t` with reuse window `r` is granted for `t + r` seconds
/// and given to writes during the first `r` seconds only, so every key lives
/// at least `t` seconds and at most `t + r`.
#[derive(Debug, Default)]
pub(super) struct LeaseManager {
    reusable: Mutex<HashMap<i64, Reusable>>,
}

impl LeaseManager {
    /// The lease to attach to a write with this TTL (`None` for no TTL).
    pub(super) async fn lease_for(
        &self,
        client: &etcd_client::Client,
        ttl: Option<Duration>,
    ) -> Result<Option<i64>> {
        let Some(ttl) = ttl else {
            return Ok(None);
        };
        let ttl_secs = ttl_seconds(ttl);
        let reuse = reuse_seconds(ttl_secs);
        if reuse == 0 {
            return grant(client, ttl_secs).await.map(Some);
        }
        // Held across the grant, so concurrent writers share one new lease.
        let mut reusable = self.reusable.lock().await;
        // Taken before the grant: etcd starts the lease later than this.
        let now = Instant::now();
        if let Some(lease) = reusable.get(&ttl_secs)
            && now < lease.until
        {
            return Ok(Some(lease.id));
        }
        reusable.retain(|_, lease| now < lease.until);
        let id = grant(client, ttl_secs.saturating_add(reuse)).await?;
        let window = Duration::from_secs(u64::try_from(reuse).unwrap_or(0));
        reusable.insert(
            ttl_secs,
            Reusable {
                id,
                until: now + window,
            },
        );
        Ok(Some(id))
    }

    /// Stops handing out the lease for this TTL (e.g. it was revoked).
    pub(super) async fn forget(&self, ttl: Option<Duration>) {
        if let Some(ttl) = ttl {
            self.reusable.lock().await.remove(&ttl_seconds(ttl));
        }
    }
}

async fn grant(client: &etcd_client::Client, ttl_secs: i64) -> Result<i64> {
    let resp = client
        .lease_client()
        .grant(ttl_secs, None)
        .await
        .map_err(etcd_error("granting a lease"))?;
    Ok(resp.id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_whole_seconds_and_at_least_one() {
        assert_eq!(ttl_seconds(Duration::from_millis(1)), 1);
        assert_eq!(ttl_seconds(Duration::ZERO), 1);
        assert_eq!(ttl_seconds(Duration::from_secs(2)), 2);
        assert_eq!(ttl_seconds(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn short_ttls_get_no_reuse() {
        assert_eq!(reuse_seconds(2), 0);
        assert_eq!(reuse_seconds(19), 0);
    }

    #[test]
    fn reuse_is_five_percent_of_the_ttl_up_to_a_minute() {
        assert_eq!(reuse_seconds(20), 1);
        assert_eq!(reuse_seconds(3600), 60);
        assert_eq!(reuse_seconds(10_000), 60);
    }
}
