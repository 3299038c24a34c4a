//! The API-server benchmark: `rkube server` as a child process on
//! 127.0.0.1, driven over TLS by kube-rs clients in this process, each
//! client its own connection.
//!
//! Three kinds of server are started, each on a fresh data directory:
//! several only to time start-up; a main one for idle memory, ConfigMap
//! creates, a LIST of 2,000 ConfigMaps and watch fan-out; and one holding
//! nothing but pods, for LISTs of 1,000 and 10,000 pods and the memory they
//! take.

pub(crate) mod load;
pub(crate) mod server;
mod watch;

use crate::stats::Latencies;
use anyhow::Context;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `rkube-bench api`.
#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// Fewer repetitions (3 starts, 500 creates per level, 5 LISTs per
    /// figure), for a smoke test. Object counts stay the same.
    #[arg(long)]
    quick: bool,
    /// The `rkube` binary to start; by default the one next to this one.
    #[arg(long)]
    binary: Option<PathBuf>,
}

/// How much of each scenario to run.
#[derive(Debug)]
struct Plan {
    /// Server starts whose median start-up time is reported.
    starts: usize,
    /// ConfigMaps created at each level of concurrency.
    creates: usize,
    /// LISTs timed per figure.
    lists: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                starts: 3,
                creates: 500,
                lists: 5,
            }
        } else {
            Plan {
                starts: 5,
                creates: 3_000,
                lists: 20,
            }
        }
    }
}

/// Concurrent clients when loading objects that are not themselves measured.
const LOADERS: usize = 64;
/// Watchers in the fan-out figure.
const WATCHERS: usize = 100;
/// ConfigMaps created while they watch.
const WATCH_EVENTS: usize = 200;
/// ConfigMaps in the LIST reference figure.
const LISTED_CONFIGMAPS: usize = 2_000;

/// The figures, in the order they are printed.
#[derive(Debug, Default)]
struct Table(Vec<(String, String)>);

impl Table {
    fn row(&mut self, what: impl Into<String>, value: impl Into<String>) {
        let (what, value) = (what.into(), value.into());
        eprintln!("  {what}: {value}");
        self.0.push((what, value));
    }
}

/// Runs every scenario and prints a markdown table of the figures.
pub async fn run(args: ApiArgs) -> anyhow::Result<()> {
    let binary = match args.binary {
        Some(path) => path,
        None => std::env::current_exe()
            .context("finding this executable")?
            .parent()
            .context("this executable has no directory")?
            .join("rkube"),
    };
    anyhow::ensure!(
        binary.is_file(),
        "no rkube binary at {} (build it with `cargo build --release -p rkube`, or pass --binary)",
        binary.display()
    );
    let plan = Plan::new(args.quick);
    let tmp = tempfile::tempdir().context("temp dir")?;
    let mut table = Table::default();

    eprintln!("start-up ({} starts)…", plan.starts);
    let startup = server::startup(&binary, tmp.path(), plan.starts).await?;
    table.row(
        format!(
            "start to ready, median of {} (spawn → serving)",
            plan.starts
        ),
        format!("{:.0} ms", ms(startup.ready_after)),
    );
    table.row(
        "start to ready, as the server logs it (`elapsed_ms`)",
        format!("{} ms", startup.logged_ms),
    );

    main_server(&binary, &tmp.path().join("main"), &plan, &mut table).await?;
    pods_server(&binary, &tmp.path().join("pods"), &plan, &mut table).await?;

    println!("| rkube API server, over TLS from a separate process | value |");
    println!("|---|---|");
    for (what, value) in table.0 {
        println!("| {what} | {value} |");
    }
    Ok(())
}

/// Idle memory, ConfigMap creates, the ConfigMap LIST and watch fan-out.
async fn main_server(
    binary: &std::path::Path,
    data_dir: &std::path::Path,
    plan: &Plan,
    table: &mut Table,
) -> anyhow::Result<()> {
    let server = server::start(binary, data_dir).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    table.row(
        "idle RSS, 2 s after start",
        mib(server::rss_bytes(server.pid())?),
    );
    let config = load::config(server.kubeconfig()).await?;
    let admin = load::client(&config)?;

    for clients in [1, 8, 64] {
        eprintln!("ConfigMap creates, {clients} client(s)…");
        let ns = format!("create-{clients}");
        load::namespace(&admin, &ns).await?;
        let (rate, mut lat) =
            load::creates(&config, &ns, clients, 0..plan.creates, load::configmap).await?;
        table.row(
            format!("ConfigMap creates/s, {clients} client(s) (p50 / p99)"),
            format!("{rate:.0} ({})", lat.p50_p99()),
        );
    }

    eprintln!("LIST of {LISTED_CONFIGMAPS} ConfigMaps…");
    load::namespace(&admin, "list").await?;
    load::root_ca_published(&admin, "list").await?;
    load::creates(
        &config,
        "list",
        LOADERS,
        0..LISTED_CONFIGMAPS,
        load::configmap,
    )
    .await?;
    let (mut lat, size) = load::lists(
        &admin,
        "/api/v1/namespaces/list/configmaps",
        LISTED_CONFIGMAPS + 1,
        plan.lists,
    )
    .await?;
    table.row(
        format!(
            "LIST of {LISTED_CONFIGMAPS} ConfigMaps (and kube-root-ca.crt), {} (p50 / p99)",
            kib(size)
        ),
        lat.p50_p99(),
    );

    eprintln!("watch fan-out, {WATCHERS} watchers × {WATCH_EVENTS} events…");
    load::namespace(&admin, "watched").await?;
    let mut fan_out = watch::fan_out(&config, "watched", WATCHERS, WATCH_EVENTS).await?;
    table.row(
        format!(
            "watch fan-out: {WATCH_EVENTS} creates until all {WATCHERS} watchers have every event"
        ),
        format!("{:.0} ms", ms(fan_out.all_delivered)),
    );
    table.row(
        format!("watch delivery to {WATCHERS} watchers, create ack → receipt (p50 / p99)"),
        fan_out.latency.p50_p99(),
    );
    table.row(
        format!("watch delivery to {WATCHERS} watchers, create sent → receipt (p50 / p99)"),
        fan_out.from_send.p50_p99(),
    );
    if fan_out.before_ack > 0 {
        eprintln!(
            "  note: {} of {} deliveries arrived before their create was acknowledged (counted as 0)",
            fan_out.before_ack,
            WATCHERS * WATCH_EVENTS
        );
    }
    server::stop(server).await
}

/// LISTs of 1,000 and 10,000 pods in one namespace, and memory with 10,000.
async fn pods_server(
    binary: &std::path::Path,
    data_dir: &std::path::Path,
    plan: &Plan,
    table: &mut Table,
) -> anyhow::Result<()> {
    let server = server::start(binary, data_dir).await?;
    let config = load::config(server.kubeconfig()).await?;
    let admin = load::client(&config)?;
    load::namespace(&admin, "pods").await?;
    let mut have = 0;
    for pods in [1_000, 10_000] {
        eprintln!("LIST of {pods} pods…");
        let (rate, mut lat) =
            load::creates(&config, "pods", LOADERS, have..pods, load::pod).await?;
        if pods == 10_000 {
            table.row(
                format!(
                    "pod creates/s, {LOADERS} clients, pods {have}–{pods} (p50 / p99)",
                    have = have + 1
                ),
                format!("{rate:.0} ({})", lat.p50_p99()),
            );
        }
        have = pods;
        let (mut lat, size) =
            load::lists(&admin, "/api/v1/namespaces/pods/pods", pods, plan.lists).await?;
        table.row(
            format!(
                "LIST of {pods} pods in one namespace, {} (p50 / p99)",
                kib(size)
            ),
            lat.p50_p99(),
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    table.row(
        format!("RSS with {have} pods stored"),
        mib(server::rss_bytes(server.pid())?),
    );
    server::stop(server).await
}

/// A duration in milliseconds.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Bytes as mebibytes.
fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A size in kibibytes.
fn kib(bytes: usize) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}

/// The median of some durations.
fn median(samples: impl IntoIterator<Item = Duration>) -> Duration {
    let mut lat = Latencies::default();
    for s in samples {
        lat.push(s);
    }
    lat.quantile(0.5)
}
