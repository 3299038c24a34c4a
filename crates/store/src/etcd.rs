//! The etcd backend: [`EtcdStore`] keeps the store in an etcd cluster
//! (v3 API; works with etcd 3.4 and later), under a configurable key prefix.
//!
//! Revisions, conditional writes, lists at a revision and watches are etcd's
//! own. TTLs are etcd leases, shared between writes with the same TTL as
//! kube-apiserver shares them. The compacted revision is recorded in an etcd
//! key of ours (as kube-apiserver records it in `compact_rev_key`), which is
//! why a [`Store::compact`] that compacts takes one revision of its own.
//! Caller keys starting with a NUL byte are reserved for that record.

mod keys;
mod lease;
mod snapshot;
mod tls;
mod watch;

use crate::{Error, KeyValue, ListRequest, ListResponse, Result, Store, WatchStream};
use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, PutOptions,
    ResponseHeader, Txn, TxnOp, TxnOpResponse, TxnResponse,
};
use keys::KeySpace;
use lease::LeaseManager;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long connecting to an endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`EtcdStore::connect`] waits for a first answer.
const FIRST_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 pings while streams are open, so a dead etcd fails open watches.
/// (etcd answers pings more often than every 5 s, or pings on a connection
/// without streams, with GOAWAY "too_many_pings".)
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a ping may go unanswered before the connection counts as dead.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest gRPC message the client accepts: lists of many objects are
/// large (kube-apiserver lifts the limit the same way).
const MAX_MESSAGE_SIZE: usize = i32::MAX as usize;

/// What etcd says when a revision has been compacted away.
const COMPACTED_MESSAGE: &str = "required revision has been compacted";
/// What etcd says about a revision it has not reached.
const FUTURE_REVISION_MESSAGE: &str = "required revision is a future revision";
/// What etcd says when a write names a lease that does not exist (any more).
const LEASE_NOT_FOUND_MESSAGE: &str = "requested lease not found";

/// Where and how to reach etcd.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtcdConfig {
    /// Client URLs, e.g. `http://127.0.0.1:2379` (`https://` with [`EtcdConfig::tls`]).
    pub endpoints: Vec<String>,
    /// Prepended to every key in etcd, e.g. `/rkube`; may be empty.
    pub key_prefix: String,
    /// TLS material for `https://` endpoints.
    pub tls: Option<EtcdTls>,
}

/// TLS material (PEM files) for `https://` endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtcdTls {
    /// The CA that signed etcd's serving certificate. No system roots are
    /// built in, so without it no server certificate verifies.
    pub ca_file: Option<PathBuf>,
    /// A client certificate, for etcd's `--client-cert-auth`; needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key; needs `cert_file`.
    pub key_file: Option<PathBuf>,
}

/// A [`Store`] kept in an etcd cluster.
pub struct EtcdStore {
    client: Client,
    keys: KeySpace,
    leases: LeaseManager,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// The KV service, without the default 4 MiB limit on answers.
    fn kv(&self) -> etcd_client::KvClient {
        self.client
            .kv_client()
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    }

    /// The watch service, without the default 4 MiB limit on answers.
    fn watcher(&self) -> etcd_client::WatchClient {
        self.client
            .watch_client()
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
    }

    /// Connects to etcd and checks that it answers (within 10 s).
    pub async fn connect(config: EtcdConfig) -> Result<Self> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_keep_alive(KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT)
            .with_keep_alive_while_idle(false)
            .with_require_leader(true);
        if let Some(tls) = &config.tls {
            options = options.with_tls(tls::options(tls).await?);
        }
        let client = Client::connect(&config.endpoints, Some(options))
            .await
            .map_err(etcd_error("connecting"))?;
        let store = EtcdStore {
            client,
            keys: KeySpace::new(&config.key_prefix),
            leases: LeaseManager::default(),
        };
        match tokio::time::timeout(FIRST_ANSWER_TIMEOUT, store.current_revision()).await {
            Ok(answer) => answer.map(|_| store),
            Err(_) => Err(Error::Etcd {
                context: "connecting",
                source: etcd_client::Error::EndpointError(format!(
                    "no answer from {:?} within {FIRST_ANSWER_TIMEOUT:?}",
                    config.endpoints
                )),
            }),
        }
    }

    /// Runs a write transaction with the lease for `ttl` (built by `txn`),
    /// granting a new lease once if a reused one has disappeared.
    async fn write(
        &self,
        context: &'static str,
        ttl: Option<Duration>,
        txn: impl Fn(Option<PutOptions>) -> Txn,
    ) -> Result<TxnResponse> {
        let mut retried = false;
        loop {
            let lease = self.leases.lease_for(&self.client, ttl).await?;
            let put_options = lease.map(|id| PutOptions::new().with_lease(id));
            match self.kv().txn(txn(put_options)).await {
                Err(err) if !retried && lease.is_some() && is_lease_not_found(&err) => {
                    self.leases.forget(ttl).await;
                    retried = true;
                }
                result => return result.map_err(etcd_error(context)),
            }
        }
    }

    /// The answer to a failed conditional write whose else branch read the key.
    fn precondition_failed(&self, key: &str, expected: i64, resp: &TxnResponse) -> Error {
        let current = resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Get(mut get) => get.take_kvs().into_iter().next(),
            _ => None,
        });
        match current.map(|kv| self.keys.kv(kv)) {
            None => Error::NotFound {
                key: key.to_owned(),
            },
            Some(Ok(current)) => Error::Conflict {
                key: key.to_owned(),
                expected,
                current: Box::new(current),
            },
            Some(Err(err)) => err,
        }
    }

    /// [`Error::Compacted`] for a read at `requested` that etcd refused.
    async fn compacted_error(&self, requested: i64) -> Error {
        match self.compacted_revision().await {
            // etcd refused `requested`, so it compacted past it even if our
            // record lags (a compaction under way, or one by another client).
            Ok(recorded) => Error::Compacted {
                requested,
                compacted: recorded.max(requested + 1),
            },
            Err(err) => err,
        }
    }

    /// [`Error::FutureRevision`] for a read at `requested` that etcd refused.
    async fn future_revision_error(&self, requested: i64) -> Error {
        match self.current_revision().await {
            Ok(current) => Error::FutureRevision { requested, current },
            Err(err) => err,
        }
    }

    /// Reads our record of the compacted revision.
    async fn compaction_record(&self) -> Result<CompactionRecord> {
        let mut resp = self
            .kv()
            .get(self.keys.compact_key(), None)
            .await
            .map_err(etcd_error("reading the compacted revision"))?;
        let current = header_revision(resp.header());
        let Some(kv) = resp.take_kvs().into_iter().next() else {
            return Ok(CompactionRecord {
                compacted: 0,
                mod_revision: 0,
                current,
            });
        };
        let compacted = std::str::from_utf8(kv.value())
            .ok()
            .and_then(|value| value.parse::<i64>().ok())
            .ok_or_else(|| Error::InvalidData {
                key: String::from_utf8_lossy(kv.key()).into_owned(),
                reason: format!(
                    "the compacted revision record holds {:?}, not a number",
                    String::from_utf8_lossy(kv.value())
                ),
            })?;
        Ok(CompactionRecord {
            compacted,
            mod_revision: kv.mod_revision(),
            current,
        })
    }
}

/// What [`EtcdStore::compaction_record`] read.
#[derive(Debug, Clone, Copy)]
struct CompactionRecord {
    /// The recorded compacted revision (0 if never compacted).
    compacted: i64,
    /// The record's mod revision (0 if never compacted), for a guarded update.
    mod_revision: i64,
    /// The current revision when it was read.
    current: i64,
}

#[async_trait]
impl Store for EtcdStore {
    async fn current_revision(&self) -> Result<i64> {
        // A count of one key: the cheapest request that carries a header.
        let resp = self
            .kv()
            .get(
                self.keys.compact_key(),
                Some(GetOptions::new().with_count_only()),
            )
            .await
            .map_err(etcd_error("reading the current revision"))?;
        Ok(header_revision(resp.header()))
    }

    async fn compacted_revision(&self) -> Result<i64> {
        Ok(self.compaction_record().await?.compacted)
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let mut resp = self
            .kv()
            .get(self.keys.key(key)?, None)
            .await
            .map_err(etcd_error("reading a key"))?;
        resp.take_kvs()
            .into_iter()
            .next()
            .map(|kv| self.keys.kv(kv))
            .transpose()
    }

    async fn list(&self, req: ListRequest) -> Result<ListResponse> {
        let (start, end) = self.keys.range(&req.prefix, req.start_after.as_deref())?;
        let mut options = GetOptions::new().with_range(end);
        if req.limit > 0 {
            options = options.with_limit(i64::try_from(req.limit).unwrap_or(i64::MAX));
        }
        if req.revision > 0 {
            options = options.with_revision(req.revision);
        }
        let mut resp = match self.kv().get(start, Some(options)).await {
            Ok(resp) => resp,
            Err(err) if is_compacted(&err) => return Err(self.compacted_error(req.revision).await),
            Err(err) if is_future_revision(&err) => {
                return Err(self.future_revision_error(req.revision).await);
            }
            Err(err) => return Err(etcd_error("listing keys")(err)),
        };
        let revision = if req.revision > 0 {
            req.revision
        } else {
            header_revision(resp.header())
        };
        let more = resp.more();
        let kvs = resp
            .take_kvs()
            .into_iter()
            .map(|kv| self.keys.kv(kv))
            .collect::<Result<Vec<_>>>()?;
        Ok(ListResponse {
            kvs,
            revision,
            more,
        })
    }

    async fn create(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<i64> {
        let etcd_key = self.keys.key(key)?;
        let value = Vec::from(value);
        let resp = self
            .write("creating a key", ttl, |put| {
                Txn::new()
                    .when([Compare::create_revision(
                        etcd_key.clone(),
                        CompareOp::Equal,
                        0,
                    )])
                    .and_then([TxnOp::put(etcd_key.clone(), value.clone(), put)])
            })
            .await?;
        if !resp.succeeded() {
            return Err(Error::AlreadyExists {
                key: key.to_owned(),
            });
        }
        Ok(header_revision(resp.header()))
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: i64,
        ttl: Option<Duration>,
    ) -> Result<i64> {
        let etcd_key = self.keys.key(key)?;
        let value = Vec::from(value);
        let resp = self
            .write("updating a key", ttl, |put| {
                Txn::new()
                    .when(unchanged(&etcd_key, expected))
                    .and_then([TxnOp::put(etcd_key.clone(), value.clone(), put)])
                    .or_else([TxnOp::get(etcd_key.clone(), None)])
            })
            .await?;
        if !resp.succeeded() {
            return Err(self.precondition_failed(key, expected, &resp));
        }
        Ok(header_revision(resp.header()))
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<i64> {
        let etcd_key = self.keys.key(key)?;
        let value = Vec::from(value);
        let resp = self
            .write("writing a key", ttl, |put| {
                Txn::new().and_then([TxnOp::put(etcd_key.clone(), value.clone(), put)])
            })
            .await?;
        Ok(header_revision(resp.header()))
    }

    async fn delete(&self, key: &str, expected: i64) -> Result<(i64, KeyValue)> {
        let etcd_key = self.keys.key(key)?;
        let txn = Txn::new()
            .when(unchanged(&etcd_key, expected))
            .and_then([TxnOp::delete(
                etcd_key.clone(),
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(etcd_key, None)]);
        let resp = self
            .kv()
            .txn(txn)
            .await
            .map_err(etcd_error("deleting a key"))?;
        if !resp.succeeded() {
            return Err(self.precondition_failed(key, expected, &resp));
        }
        let revision = header_revision(resp.header());
        let deleted = resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Delete(mut delete) => delete.take_prev_kvs().into_iter().next(),
            _ => None,
        });
        match deleted {
            Some(kv) => Ok((revision, self.keys.kv(kv)?)),
            // The compare held, so the key existed: etcd must have sent it.
            None => Err(Error::NotFound {
                key: key.to_owned(),
            }),
        }
    }

    async fn delete_any(&self, key: &str) -> Result<Option<(i64, KeyValue)>> {
        let mut resp = self
            .kv()
            .delete(
                self.keys.key(key)?,
                Some(DeleteOptions::new().with_prev_key()),
            )
            .await
            .map_err(etcd_error("deleting a key"))?;
        let revision = header_revision(resp.header());
        match resp.take_prev_kvs().into_iter().next() {
            Some(kv) => Ok(Some((revision, self.keys.kv(kv)?))),
            None => Ok(None),
        }
    }

    async fn watch(&self, prefix: &str, start_revision: i64) -> Result<WatchStream> {
        watch::start(self, prefix, start_revision).await
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let record = self.compaction_record().await?;
        if revision <= record.compacted {
            return Ok(());
        }
        if revision > record.current {
            return Err(Error::FutureRevision {
                requested: revision,
                current: record.current,
            });
        }
        match self.kv().compact(revision, None).await {
            Ok(_) => {}
            // Compacted further already (by another client): fine.
            Err(err) if is_compacted(&err) => {}
            Err(err) if is_future_revision(&err) => {
                return Err(self.future_revision_error(revision).await);
            }
            Err(err) => return Err(etcd_error("compacting")(err)),
        }
        // Record it (never lowering the record), after the compaction so a
        // failed compaction is retried by the next call.
        let mut record = record;
        while revision > record.compacted {
            let compact_key = self.keys.compact_key();
            let txn = Txn::new()
                .when([Compare::mod_revision(
                    compact_key.clone(),
                    CompareOp::Equal,
                    record.mod_revision,
                )])
                .and_then([TxnOp::put(compact_key, revision.to_string(), None)]);
            let resp = self
                .kv()
                .txn(txn)
                .await
                .map_err(etcd_error("recording the compacted revision"))?;
            if resp.succeeded() {
                break;
            }
            // Another client recorded a compaction meanwhile: look again.
            record = self.compaction_record().await?;
        }
        Ok(())
    }

    async fn snapshot(&self, dest: &Path) -> Result<()> {
        snapshot::save(&self.client, dest).await
    }
}

/// The compares of a write or delete guarded by the expected mod revision:
/// the key exists and was not changed since.
fn unchanged(key: &[u8], expected: i64) -> [Compare; 2] {
    [
        Compare::mod_revision(key.to_vec(), CompareOp::Equal, expected),
        Compare::version(key.to_vec(), CompareOp::Greater, 0),
    ]
}

fn header_revision(header: Option<&ResponseHeader>) -> i64 {
    header.map_or(0, ResponseHeader::revision)
}

/// Maps an etcd client error to [`Error::Etcd`] with what was being done.
fn etcd_error(context: &'static str) -> impl FnOnce(etcd_client::Error) -> Error {
    move |source| Error::Etcd { context, source }
}

fn io_error(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        context,
        path,
        source,
    }
}

fn grpc_message(err: &etcd_client::Error) -> &str {
    match err {
        etcd_client::Error::GRpcStatus(status) => status.message(),
        _ => "",
    }
}

/// Whether etcd refused a revision because it was compacted.
fn is_compacted(err: &etcd_client::Error) -> bool {
    grpc_message(err).contains(COMPACTED_MESSAGE)
}

/// Whether etcd refused a revision it has not reached yet.
fn is_future_revision(err: &etcd_client::Error) -> bool {
    grpc_message(err).contains(FUTURE_REVISION_MESSAGE)
}

fn is_lease_not_found(err: &etcd_client::Error) -> bool {
    grpc_message(err).contains(LEASE_NOT_FOUND_MESSAGE)
}
