//! The `rkube` command: every rkube process is a subcommand of this binary.

mod controller_manager;
mod datastore;
mod process;
mod scheduler;
mod server;
mod sim;
mod snapshot;

use clap::{Parser, Subcommand};

/// rkube: a Kubernetes-compatible container orchestrator in one binary.
#[derive(Debug, Parser)]
#[command(name = "rkube", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the control plane: the datastore and the Kubernetes API.
    Server(server::ServerArgs),
    /// Run the scheduler on its own against an API server (any Kubernetes).
    Scheduler(scheduler::SchedulerArgs),
    /// Run the controllers on their own against an API server (any Kubernetes).
    ControllerManager(controller_manager::ControllerManagerArgs),
    /// Run simulated nodes against an API server (any Kubernetes).
    Sim(sim::SimArgs),
    /// Save or restore a backup of the cluster's datastore.
    #[command(subcommand)]
    Snapshot(snapshot::SnapshotCommand),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    // The scheduler runs on one thread, as the one built into `rkube server` does: its
    // cycles are one after another, and a second worker only added wakeups across threads
    // (4 % fewer pods/s on a backlog sharing two cores with the API server).
    let runtime = match cli.command {
        Command::Scheduler(_) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Server(args) => args.run().await,
            Command::Scheduler(args) => args.run().await,
            Command::ControllerManager(args) => args.run().await,
            Command::Sim(args) => args.run().await,
            Command::Snapshot(command) => command.run().await,
        }
    })
}
