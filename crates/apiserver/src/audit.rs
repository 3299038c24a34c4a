//! The audit log: one JSON line per request, in the `audit.k8s.io/v1`
//! Event shape, written by a background task so requests never wait on it.

use serde_json::json;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// How many entries may wait for the writer before new ones are dropped.
const QUEUE: usize = 10_000;

/// One audited request.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// When the request arrived (RFC 3339, microseconds).
    pub received: String,
    /// When the response was sent.
    pub completed: String,
    /// The user name (`system:anonymous` when none).
    pub user: String,
    /// The user's groups.
    pub groups: Vec<String>,
    /// The verb.
    pub verb: String,
    /// The request URI.
    pub uri: String,
    /// The object the request was about, for resource requests.
    pub object: Option<ObjectRef>,
    /// The response code.
    pub code: u16,
    /// The client address.
    pub source_ip: Option<String>,
}

/// API group, version, resource, subresource, namespace and name of a request's object.
pub type ObjectRef = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A handle to the audit log writer.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<AuditEntry>,
}

/// Why the audit log cannot be opened.
#[derive(Debug, thiserror::Error)]
#[error("opening audit log {path}: {source}")]
pub struct AuditError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

fn render(entry: &AuditEntry) -> String {
    let mut event = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": uuid::Uuid::new_v4().to_string(),
        "stage": "ResponseComplete",
        "requestURI": entry.uri,
        "verb": entry.verb,
        "user": {"username": entry.user, "groups": entry.groups},
        "sourceIPs": entry.source_ip.iter().collect::<Vec<_>>(),
        "responseStatus": {"metadata": {}, "code": entry.code},
        "requestReceivedTimestamp": entry.received,
        "stageTimestamp": entry.completed,
    });
    if let Some((group, version, resource, sub, namespace, name)) = &entry.object {
        let mut object = json!({"resource": resource, "apiGroup": group, "apiVersion": version});
        if let Some(sub) = sub {
            object["subresource"] = json!(sub);
        }
        if let Some(ns) = namespace {
            object["namespace"] = json!(ns);
        }
        if let Some(name) = name {
            object["name"] = json!(name);
        }
        event["objectRef"] = object;
    }
    let mut line = event.to_string();
    line.push('\n');
    line
}

impl AuditLog {
    /// Opens (appending) the log file and starts its writer task.
    pub async fn open(path: &Path) -> Result<Self, AuditError> {
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .map_err(|source| AuditError {
                path: path.to_owned(),
                source,
            })?;
        let (tx, mut rx) = mpsc::channel::<AuditEntry>(QUEUE);
        tokio::spawn(async move {
            while let Some(entry) = rx.recv().await {
                let mut buf = render(&entry);
                while let Ok(more) = rx.try_recv() {
                    buf.push_str(&render(&more));
                }
                if let Err(err) = file.write_all(buf.as_bytes()).await {
                    tracing::error!(%err, "writing the audit log failed");
                }
                let _ = file.flush().await;
            }
        });
        Ok(AuditLog { tx })
    }

    /// Queues an entry; dropped (and logged) if the writer is far behind.
    pub fn record(&self, entry: AuditEntry) {
        if self.tx.try_send(entry).is_err() {
            tracing::warn!("audit log queue full; entry dropped");
        }
    }
}
