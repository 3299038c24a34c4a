//! Snapshots through etcd's Maintenance API, written like `etcdctl snapshot
//! save` writes them (restorable with etcd's own tools).

use super::{etcd_error, io_error};
use crate::Result;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Streams a snapshot of the whole etcd keyspace into `dest`, through
/// `dest.tmp` (synced, then renamed), so `dest` is never half written.
pub(super) async fn save(client: &etcd_client::Client, dest: &Path) -> Result<()> {
    let mut tmp = OsString::from(dest.as_os_str());
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = save_via(client, &tmp, dest).await;
    if result.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

async fn save_via(client: &etcd_client::Client, tmp: &Path, dest: &Path) -> Result<()> {
    let mut stream = client
        .maintenance_client()
        .snapshot()
        .await
        .map_err(etcd_error("starting a snapshot"))?;
    let mut file = tokio::fs::File::create(tmp)
        .await
        .map_err(io_error("creating snapshot file", tmp))?;
    while let Some(chunk) = stream
        .message()
        .await
        .map_err(etcd_error("streaming a snapshot"))?
    {
        file.write_all(chunk.blob())
            .await
            .map_err(io_error("writing snapshot file", tmp))?;
    }
    file.sync_all()
        .await
        .map_err(io_error("syncing snapshot file", tmp))?;
    drop(file);
    tokio::fs::rename(tmp, dest)
        .await
        .map_err(io_error("renaming snapshot file into", dest))?;
    // Make the rename itself durable.
    let dir = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let dir_file = tokio::fs::File::open(dir)
        .await
        .map_err(io_error("opening directory", dir))?;
    dir_file
        .sync_all()
        .await
        .map_err(io_error("syncing directory", dir))
}
