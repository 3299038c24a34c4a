//! Where the datastore lives: the data directory's embedded SQLite store, or
//! an etcd cluster (`--datastore-endpoint`), with k3s's flag names.

use clap::Args;
use rkube_store::etcd::{EtcdConfig, EtcdTls};
use std::path::PathBuf;

/// Flags that choose and reach the datastore.
#[derive(Debug, Args)]
pub struct DatastoreArgs {
    /// The data directory (the embedded store lives in its `db` folder).
    /// Default: /var/lib/rkube as root, else ~/.local/share/rkube.
    #[arg(long, short = 'd', env = "RKUBE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Use etcd at this endpoint (http://HOST:PORT or https://HOST:PORT;
    /// several separated by commas) instead of the embedded store.
    #[arg(long, env = "RKUBE_DATASTORE_ENDPOINT")]
    pub datastore_endpoint: Option<String>,
    /// Key prefix under which rkube keeps its keys in etcd.
    #[arg(long, default_value = "")]
    pub datastore_prefix: String,
    /// CA bundle to verify etcd's serving certificate.
    #[arg(long)]
    pub datastore_cafile: Option<PathBuf>,
    /// Client certificate for etcd.
    #[arg(long)]
    pub datastore_certfile: Option<PathBuf>,
    /// Client key for etcd.
    #[arg(long)]
    pub datastore_keyfile: Option<PathBuf>,
}

impl DatastoreArgs {
    /// The data directory, defaulted as documented.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    /// The embedded store's directory inside the data directory.
    pub fn db_dir(&self) -> PathBuf {
        self.data_dir().join("db")
    }

    /// The etcd connection settings, when an endpoint was given.
    pub fn etcd(&self) -> Option<EtcdConfig> {
        let endpoints = self.datastore_endpoint.as_deref()?;
        let tls = (self.datastore_cafile.is_some()
            || self.datastore_certfile.is_some()
            || self.datastore_keyfile.is_some())
        .then(|| EtcdTls {
            ca_file: self.datastore_cafile.clone(),
            cert_file: self.datastore_certfile.clone(),
            key_file: self.datastore_keyfile.clone(),
        });
        Some(EtcdConfig {
            endpoints: endpoints
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect(),
            key_prefix: self.datastore_prefix.clone(),
            tls,
        })
    }
}

fn default_data_dir() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if is_root {
        PathBuf::from("/var/lib/rkube")
    } else {
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        home.join(".local/share/rkube")
    }
}
