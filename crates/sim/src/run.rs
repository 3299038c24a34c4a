//! The simulator as a running component: [`start`] registers the nodes and starts the loop;
//! the [`Sim`] handle steers and stops it.

use crate::SimError;
use crate::config::{Names, SimConfig};
use crate::driver::{Command, Driver};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Running simulated nodes.
pub struct Sim {
    names: Arc<Names>,
    config: Arc<SimConfig>,
    client: kube::Client,
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

/// Registers the configured nodes (adopting any that exist), gives each its pod range and
/// Lease, and starts simulating them. Returns once every node is registered and `Ready`.
pub async fn start(client: kube::Client, config: SimConfig) -> Result<Sim, SimError> {
    let names = Arc::new(config.validate()?);
    let config = Arc::new(config);
    let nodes = crate::register::register_all(&client, &config, &names).await?;
    let (commands, receiver) = mpsc::unbounded_channel();
    let driver = Driver::new(client.clone(), config.clone(), names.clone(), nodes);
    let task = tokio::spawn(driver.run(receiver));
    tracing::info!(
        nodes = names.count(),
        failed = config.failed_nodes.len(),
        "simulated nodes running"
    );
    Ok(Sim {
        names,
        config,
        client,
        commands,
        task,
    })
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// The names of the simulated nodes, in index order.
    pub fn node_names(&self) -> Vec<String> {
        self.names.all()
    }

    fn send(&self, command: Command) -> Result<(), SimError> {
        self.commands.send(command).map_err(|_| SimError::Stopped)
    }

    fn index(&self, name: &str) -> Result<u32, SimError> {
        self.names
            .index(name)
            .ok_or_else(|| SimError::UnknownNode(name.to_owned()))
    }

    /// Fails node `name`: its Lease is no longer renewed, its status no longer refreshed,
    /// and its pods stay as they are, as when a machine is cut off.
    pub fn fail_node(&self, name: &str) -> Result<(), SimError> {
        let index = self.index(name)?;
        self.send(Command::Fail(index))
    }

    /// Recovers a failed node: heartbeats resume at once, its pods move on.
    pub fn recover_node(&self, name: &str) -> Result<(), SimError> {
        let index = self.index(name)?;
        self.send(Command::Recover(index))
    }

    /// Stops: the API calls in flight finish, and the nodes are left as they are (or
    /// deleted, with their Leases, when the configuration says so).
    pub async fn shutdown(self) -> Result<(), SimError> {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Shutdown(reply)).is_ok() {
            let _ = done.await;
        }
        match self.task.await {
            Ok(()) => {}
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(_) => return Err(SimError::Stopped),
        }
        if self.config.delete_nodes_on_exit {
            crate::register::delete_all(&self.client, &self.config, &self.names).await?;
            tracing::info!(nodes = self.names.count(), "simulated nodes deleted");
        }
        Ok(())
    }
}
