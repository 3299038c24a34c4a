//! TLS settings for `https://` endpoints, from PEM files.

use super::{EtcdTls, io_error};
use crate::{Error, Result};
use etcd_client::{Certificate, Identity, TlsOptions};
use std::path::Path;

/// Reads the TLS material named in `tls`.
pub(super) async fn options(tls: &EtcdTls) -> Result<TlsOptions> {
    let mut options = TlsOptions::new();
    if let Some(ca) = &tls.ca_file {
        options = options.ca_certificate(Certificate::from_pem(read_pem(ca).await?));
    }
    match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            options = options.identity(Identity::from_pem(
                read_pem(cert).await?,
                read_pem(key).await?,
            ));
        }
        (None, None) => {}
        _ => {
            return Err(Error::Etcd {
                context: "configuring tls",
                source: etcd_client::Error::InvalidArgs(
                    "cert_file and key_file must be given together".to_owned(),
                ),
            });
        }
    }
    Ok(options)
}

async fn read_pem(path: &Path) -> Result<Vec<u8>> {
    tokio::fs::read(path)
        .await
        .map_err(io_error("reading tls file", path))
}
