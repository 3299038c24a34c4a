//! rkube's benchmarks. `bench/run` builds and runs them; the figures go
//! into `docs/benchmarks.md`.

mod api;
mod scale;
mod scheduler;
mod stats;
mod store;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "rkube benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The store: embedded SQLite and a real etcd side by side.
    Store(store::StoreArgs),
    /// The scheduler: nodes as API objects, a burst of pods, until every pod has a node.
    Scheduler(scheduler::SchedulerArgs),
    /// The API server: `rkube server` as a child process, driven over TLS.
    Api(api::ApiArgs),
    /// The scale scenario: simulated nodes and 30 pods per node through Deployments.
    Scale(scale::ScaleArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Store(args) => store::run(args).await,
        Command::Scheduler(args) => scheduler::run(args).await,
        Command::Api(args) => api::run(args).await,
        Command::Scale(args) => scale::run(args).await,
    }
}
