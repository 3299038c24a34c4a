//! Watch fan-out: many watchers of one namespace's ConfigMaps, each on its
//! own connection, while one client creates ConfigMaps.

use super::load;
use crate::stats::Latencies;
use anyhow::Context;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;

/// How long a watcher waits for its next event before giving up.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The fan-out figures.
#[derive(Debug)]
pub struct FanOut {
    /// From the first create being sent to the last watcher receiving the
    /// last event.
    pub all_delivered: Duration,
    /// Per event and watcher: from the create's response to the event's
    /// receipt (zero when the event came first).
    pub latency: Latencies,
    /// Per event and watcher: from the create being sent to the event's
    /// receipt.
    pub from_send: Latencies,
    /// Deliveries that arrived before their create's response.
    pub before_ack: usize,
}

/// Opens `watchers` watches of the ConfigMaps in `ns` from its current
/// resourceVersion, then creates `events` ConfigMaps there one at a time.
pub async fn fan_out(
    config: &kube::Config,
    ns: &str,
    watchers: usize,
    events: usize,
) -> anyhow::Result<FanOut> {
    let creator: Api<ConfigMap> = Api::namespaced(load::client(config)?, ns);
    let rv = creator
        .list(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .context("a LIST without a resourceVersion")?;

    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..watchers {
        let api: Api<ConfigMap> = Api::namespaced(load::client(config)?, ns);
        let stream = api
            .watch(&WatchParams::default().timeout(290), &rv)
            .await
            .with_context(|| format!("opening watch {w}"))?;
        tasks.spawn(async move {
            let mut stream = Box::pin(stream);
            let mut received = vec![None; events];
            let mut seen = 0;
            while seen < events {
                let next = tokio::time::timeout(EVENT_TIMEOUT, stream.next())
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!("watcher {w}: no event for {EVENT_TIMEOUT:?} after {seen}")
                    })?;
                let event = next
                    .with_context(|| format!("watcher {w}: the watch ended after {seen} events"))?
                    .with_context(|| format!("watcher {w}: after {seen} events"))?;
                let at = Instant::now();
                let cm = match event {
                    WatchEvent::Added(cm) => cm,
                    WatchEvent::Bookmark(_) => continue,
                    other => anyhow::bail!("watcher {w}: unexpected {other:?}"),
                };
                let name = cm.metadata.name.unwrap_or_default();
                let i: usize = name
                    .strip_prefix("cm-")
                    .and_then(|i| i.parse().ok())
                    .filter(|i| *i < events)
                    .with_context(|| format!("watcher {w}: unexpected ConfigMap {name:?}"))?;
                anyhow::ensure!(received[i].is_none(), "watcher {w}: {name} twice");
                received[i] = Some(at);
                seen += 1;
            }
            anyhow::Ok(received.into_iter().flatten().collect::<Vec<Instant>>())
        });
    }

    let start = Instant::now();
    let (mut sends, mut acks) = (Vec::with_capacity(events), Vec::with_capacity(events));
    for i in 0..events {
        sends.push(Instant::now());
        creator
            .create(&PostParams::default(), &load::configmap(i))
            .await
            .with_context(|| format!("creating cm-{i}"))?;
        acks.push(Instant::now());
    }

    let mut fan_out = FanOut {
        all_delivered: Duration::ZERO,
        latency: Latencies::default(),
        from_send: Latencies::default(),
        before_ack: 0,
    };
    for result in tasks.join_all().await {
        for ((sent, ack), at) in sends.iter().zip(&acks).zip(result?) {
            fan_out.from_send.push(at - *sent);
            fan_out.all_delivered = fan_out.all_delivered.max(at - start);
            if at < *ack {
                fan_out.before_ack += 1;
            }
            fan_out.latency.push(at.saturating_duration_since(*ack));
        }
    }
    Ok(fan_out)
}
