//! Leader election through a `coordination.k8s.io/v1` Lease, as upstream's components do it:
//! a candidate takes the lease when it is free or expired, renews it every retry period, and
//! stops leading when it cannot renew within the renew deadline. Several servers can run a
//! component; only the holder of its lease acts.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use std::time::Duration;
use tokio::sync::watch;

/// Timing of an election (upstream's defaults: 15 s, 10 s, 2 s).
#[derive(Clone, Debug)]
pub struct Timing {
    /// How long a lease is valid after its last renewal.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up leading.
    pub renew_deadline: Duration,
    /// How often candidates try to acquire and the leader renews.
    pub retry_period: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Why an election step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API answered with an error other than a lost race.
    #[error("lease {name}: {source}")]
    Api {
        /// The lease's name.
        name: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

/// A candidate for the lease `namespace/name`.
#[derive(Clone)]
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: Timing,
}

fn now() -> Timestamp {
    rkube_api::time::now()
}

fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(renewed) = spec.renew_time.as_ref().map(|t| t.0) else {
        return true;
    };
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    now.as_second() > renewed.as_second() + duration
}

impl Elector {
    /// A candidate named `identity` for the lease `name` in `namespace` (usually kube-system).
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timing: Timing,
    ) -> Elector {
        Elector {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            timing,
        }
    }

    /// One attempt to acquire or renew: true if this candidate holds the lease afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, Error> {
        let api_err = |source| Error::Api {
            name: self.name.clone(),
            source,
        };
        let now = now();
        let current = self.api.get_opt(&self.name).await.map_err(api_err)?;
        let duration = i32::try_from(self.timing.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(duration),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(api_err(e)),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let mine = holder == self.identity;
        if !mine && !holder.is_empty() && !expired(spec, now) {
            return Ok(false);
        }
        if !mine {
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            spec.holder_identity = Some(self.identity.clone());
        }
        spec.lease_duration_seconds = Some(duration);
        spec.renew_time = Some(MicroTime(now));
        // The update carries the resourceVersion read above: a concurrent writer makes it fail.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(api_err(e)),
        }
    }

    /// Runs the election until `shutdown` turns true: the returned channel says whether this
    /// candidate leads right now.
    pub fn spawn(self, mut shutdown: watch::Receiver<bool>) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            let mut last_renewed: Option<tokio::time::Instant> = None;
            loop {
                let leading = match self.try_acquire_or_renew().await {
                    Ok(true) => {
                        last_renewed = Some(tokio::time::Instant::now());
                        true
                    }
                    Ok(false) => false,
                    Err(err) => {
                        tracing::warn!(%err, "leader election");
                        // Keep leading until the renew deadline passes without a renewal.
                        *tx.borrow()
                            && last_renewed
                                .is_some_and(|t| t.elapsed() < self.timing.renew_deadline)
                    }
                };
                if leading != *tx.borrow() {
                    tracing::info!(lease = %self.name, identity = %self.identity, leading, "leadership changed");
                    let _ = tx.send(leading);
                }
                tokio::select! {
                    _ = tokio::time::sleep(self.timing.retry_period) => {}
                    _ = shutdown.changed() => {
                        if *shutdown.borrow() {
                            let _ = tx.send(false);
                            return;
                        }
                    }
                }
            }
        });
        rx
    }
}

/// Whether this process leads for the Lease `namespace/name`: through an election as
/// `identity` when `elect`, else from the start.
pub fn leading(
    client: kube::Client,
    namespace: &str,
    name: &str,
    identity: &str,
    elect: bool,
    shutdown: watch::Receiver<bool>,
) -> watch::Receiver<bool> {
    if elect {
        Elector::new(client, namespace, name, identity, Timing::default()).spawn(shutdown)
    } else {
        watch::channel(true).1
    }
}

/// Waits until `rx`'s value changes; never returns once its sender is gone (the value then
/// stays as it is), so it can sit in a `select!` beside other signals.
pub async fn changed(rx: &mut watch::Receiver<bool>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_uses_renew_time_and_duration() {
        let at = |s: i64| Timestamp::from_second(s).unwrap();
        let spec = LeaseSpec {
            renew_time: Some(MicroTime(at(100))),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        };
        assert!(!expired(&spec, at(110)));
        assert!(!expired(&spec, at(115)));
        assert!(expired(&spec, at(116)));
        assert!(expired(&LeaseSpec::default(), at(0)));
    }
}
