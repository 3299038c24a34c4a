//! `rkube snapshot`: online backups of the datastore and restoring them.

use crate::datastore::DatastoreArgs;
use anyhow::{Context, bail};
use clap::Subcommand;
use rkube_store::Store;
use rkube_store::etcd::EtcdStore;
use rkube_store::sqlite;
use std::path::PathBuf;

/// `rkube snapshot …`
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Write a consistent copy of the datastore to FILE, while the server
    /// runs (etcd: through etcd's snapshot API).
    Save {
        /// Where to write the snapshot.
        file: PathBuf,
        #[command(flatten)]
        datastore: DatastoreArgs,
    },
    /// Restore an embedded-store snapshot into an empty data directory
    /// (the server must not be running on it).
    Restore {
        /// The snapshot to restore.
        file: PathBuf,
        #[command(flatten)]
        datastore: DatastoreArgs,
    },
}

impl SnapshotCommand {
    /// Runs the subcommand.
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            SnapshotCommand::Save { file, datastore } => {
                if let Some(config) = datastore.etcd() {
                    let store = EtcdStore::connect(config)
                        .await
                        .context("connecting to etcd")?;
                    store.snapshot(&file).await?;
                } else {
                    let dir = datastore.db_dir();
                    let dest = file.clone();
                    tokio::task::spawn_blocking(move || sqlite::save_snapshot(&dir, &dest))
                        .await??;
                }
                tracing::info!(file = %file.display(), "snapshot saved");
            }
            SnapshotCommand::Restore { file, datastore } => {
                if datastore.etcd().is_some() {
                    bail!(
                        "restoring into etcd is done with etcd's own tools (etcdutl snapshot restore); \
                         this command restores the embedded store"
                    );
                }
                let dir = datastore.db_dir();
                let src = file.clone();
                tokio::task::spawn_blocking(move || sqlite::restore_snapshot(&src, &dir)).await??;
                tracing::info!(
                    file = %file.display(),
                    data_dir = %datastore.data_dir().display(),
                    "snapshot restored"
                );
            }
        }
        Ok(())
    }
}
