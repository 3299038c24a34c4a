//! The store benchmark: the embedded SQLite store and a real etcd (started
//! on 127.0.0.1, data on the same disk) measured the same way in one run.

use crate::stats::Latencies;
use anyhow::Context;
use bytes::Bytes;
use rkube_store::etcd::{EtcdConfig, EtcdStore};
use rkube_store::sqlite::{SqliteOptions, SqliteStore};
use rkube_store::{ListRequest, Store};
use rkube_testkit::etcd::EtcdProcess;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `rkube-bench store`.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// Shorter runs (1 s per write figure instead of 5 s), for a smoke test.
    #[arg(long)]
    quick: bool,
}

/// Bytes per stored value: about the size of a small Kubernetes object.
const VALUE_SIZE: usize = 1024;

fn value() -> Bytes {
    Bytes::from(vec![b'x'; VALUE_SIZE])
}

/// Runs every scenario against both backends and prints a table.
pub async fn run(args: StoreArgs) -> anyhow::Result<()> {
    let write_time = Duration::from_secs(if args.quick { 1 } else { 5 });
    let tmp = tempfile::tempdir().context("temp dir")?;
    let sqlite = SqliteStore::open(&tmp.path().join("sqlite"), SqliteOptions::default())?;
    let etcd_process = EtcdProcess::start().await?;
    let etcd = EtcdStore::connect(EtcdConfig {
        endpoints: vec![etcd_process.endpoint()],
        key_prefix: String::new(),
        tls: None,
    })
    .await?;
    let backends: [(&str, Arc<dyn Store>); 2] =
        [("sqlite", Arc::new(sqlite)), ("etcd", Arc::new(etcd))];

    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    for (column, (name, store)) in backends.iter().enumerate() {
        eprintln!("benchmarking {name}…");
        let mut cells = Vec::new();
        for writers in [1, 8, 64] {
            let (rate, mut lat) = writes(store, writers, write_time).await?;
            cells.push((
                format!("writes/s, {writers} writer(s) (p50 / p99)"),
                format!("{rate:.0} ({})", lat.p50_p99()),
            ));
        }
        for keys in [1_000, 10_000] {
            let prefix = format!("/registry/list{keys}/");
            preload(store, &prefix, keys).await?;
            let mut lat = gets(store, &prefix, keys, 20_000).await?;
            cells.push((format!("get, {keys} keys (p50 / p99)"), lat.p50_p99()));
            let rounds = if keys > 1_000 { 30 } else { 100 };
            let mut lat = lists(store, &prefix, rounds).await?;
            cells.push((format!("list of {keys} keys (p50 / p99)"), lat.p50_p99()));
        }
        let mut lat = watch_delivery(store, 100, 1_000).await?;
        cells.push((
            "watch delivery, 100 watchers (p50 / p99)".to_owned(),
            lat.p50_p99(),
        ));
        for (i, (label, cell)) in cells.into_iter().enumerate() {
            if column == 0 {
                rows.push((label, vec![cell]));
            } else {
                rows[i].1.push(cell);
            }
        }
    }
    drop(backends);
    drop(etcd_process);

    println!("| store, 1 KiB values | embedded SQLite | etcd 3.4 |");
    println!("|---|---|---|");
    for (label, cells) in rows {
        println!("| {label} | {} |", cells.join(" | "));
    }
    Ok(())
}

/// Creates distinct keys from `writers` concurrent tasks for `time`.
async fn writes(
    store: &Arc<dyn Store>,
    writers: usize,
    time: Duration,
) -> anyhow::Result<(f64, Latencies)> {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.spawn(async move {
            let mut lat = Latencies::default();
            let mut i = 0u64;
            while start.elapsed() < time {
                let key = format!("/registry/write{writers}/{w}/{i}");
                let t = Instant::now();
                store.create(&key, value(), None).await?;
                lat.push(t.elapsed());
                i += 1;
            }
            anyhow::Ok((i, lat))
        });
    }
    let (mut total, mut all) = (0, Latencies::default());
    for result in tasks.join_all().await {
        let (count, lat) = result?;
        total += count;
        all.extend(lat);
    }
    Ok((total as f64 / start.elapsed().as_secs_f64(), all))
}

/// Writes `keys` keys under `prefix` from 64 concurrent tasks.
async fn preload(store: &Arc<dyn Store>, prefix: &str, keys: usize) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..64 {
        let (store, prefix) = (store.clone(), prefix.to_owned());
        tasks.spawn(async move {
            for i in (w..keys).step_by(64) {
                store.put(&format!("{prefix}{i:06}"), value(), None).await?;
            }
            anyhow::Ok(())
        });
    }
    for result in tasks.join_all().await {
        result?;
    }
    Ok(())
}

/// Reads random existing keys one at a time.
async fn gets(
    store: &Arc<dyn Store>,
    prefix: &str,
    keys: usize,
    samples: usize,
) -> anyhow::Result<Latencies> {
    let mut lat = Latencies::default();
    // A fixed-seed xorshift: the same keys every run, no rand dependency.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..samples {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = format!("{prefix}{:06}", x % keys as u64);
        let t = Instant::now();
        let found = store.get(&key).await?;
        lat.push(t.elapsed());
        anyhow::ensure!(found.is_some(), "{key} missing");
    }
    Ok(lat)
}

/// Lists the whole prefix, one list at a time.
async fn lists(store: &Arc<dyn Store>, prefix: &str, rounds: usize) -> anyhow::Result<Latencies> {
    let mut lat = Latencies::default();
    for _ in 0..rounds {
        let t = Instant::now();
        let listed = store
            .list(ListRequest {
                prefix: prefix.to_owned(),
                ..ListRequest::default()
            })
            .await?;
        lat.push(t.elapsed());
        anyhow::ensure!(!listed.kvs.is_empty(), "empty list");
    }
    Ok(lat)
}

/// From the start of each write to its arrival at every watcher, with
/// writes paced at 500/s.
async fn watch_delivery(
    store: &Arc<dyn Store>,
    watchers: usize,
    writes: usize,
) -> anyhow::Result<Latencies> {
    let prefix = "/registry/watch/";
    let base = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..watchers {
        let mut w = store.watch(prefix, 0).await?;
        tasks.spawn(async move {
            let mut lat = Latencies::default();
            for _ in 0..writes {
                let event = w.recv().await.context("watch ended")??;
                let sent: u64 = std::str::from_utf8(&event.kv.value)?.parse()?;
                lat.push(base.elapsed() - Duration::from_nanos(sent));
            }
            anyhow::Ok(lat)
        });
    }
    let mut pace = tokio::time::interval(Duration::from_millis(2));
    for i in 0..writes {
        pace.tick().await;
        let sent = base.elapsed().as_nanos() as u64;
        store
            .put(
                &format!("{prefix}{}", i % 100),
                Bytes::from(sent.to_string()),
                None,
            )
            .await?;
    }
    let mut all = Latencies::default();
    for result in tasks.join_all().await {
        all.extend(result?);
    }
    Ok(all)
}
