//! Leader election through a Lease against the real API.

use crate::Cluster;
use rkube_leader::{Elector, Timing};
use std::time::Duration;

#[tokio::test]
async fn one_leader_at_a_time_and_takeover_after_expiry() {
    let c = Cluster::start().await;
    let timing = Timing {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_secs(1),
        retry_period: Duration::from_millis(200),
    };
    let a = Elector::new(
        c.client.clone(),
        "kube-system",
        "test-lock",
        "a",
        timing.clone(),
    );
    let b = Elector::new(
        c.client.clone(),
        "kube-system",
        "test-lock",
        "b",
        timing.clone(),
    );
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(
        !b.try_acquire_or_renew().await.unwrap(),
        "the lease is held"
    );
    assert!(a.try_acquire_or_renew().await.unwrap(), "the holder renews");

    // a stops renewing; b takes over once the lease has expired.
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let mut leading = b.spawn(shutdown);
    tokio::time::timeout(Duration::from_secs(10), async {
        while !*leading.borrow_and_update() {
            leading.changed().await.unwrap();
        }
    })
    .await
    .expect("b leads within 10 s");
    assert!(!a.try_acquire_or_renew().await.unwrap(), "a lost the lease");
    let _ = stop.send(true);
    c.server.shutdown().await;
}
