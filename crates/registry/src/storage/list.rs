//! Lists: from the watch cache, or from the store at an exact revision
//! (and for continued pages), with selectors and pagination.

use super::{Storage, internal};
use crate::cache::Entry;
use crate::kinds::ResourceInfo;
use crate::object;
use base64::Engine;
use bytes::Bytes;
use rkube_api::selector::{FieldSelector, LabelSelector};
use rkube_api::status::StatusError;
use std::sync::Arc;
use std::time::Duration;

/// How long a read waits for the cache to reach a revision.
pub(super) const FRESHNESS_WAIT: Duration = Duration::from_secs(3);

/// Which objects a list or watch selects.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// `labelSelector`.
    pub labels: Option<LabelSelector>,
    /// `fieldSelector`.
    pub fields: Option<FieldSelector>,
}

impl Filter {
    /// Whether every object is selected (no selector at all).
    pub fn selects_all(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }

    /// Whether the object is selected.
    pub fn matches(&self, entry: &Entry) -> bool {
        self.labels
            .as_ref()
            .is_none_or(|l| l.matches(&entry.labels))
            && self
                .fields
                .as_ref()
                .is_none_or(|f| f.matches(|name| entry.field(name).map(str::to_owned)))
    }
}

/// What a LIST asks for.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Selectors.
    pub filter: Filter,
    /// At most this many items (0: all).
    pub limit: usize,
    /// The `continue` token of a previous page.
    pub continue_token: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub resource_version_match: Option<String>,
}

/// A page of a list.
#[derive(Debug)]
pub struct ListResult {
    /// The objects, as served.
    pub items: Vec<Bytes>,
    /// The revision the list is consistent at.
    pub resource_version: i64,
    /// The token for the next page.
    pub continue_token: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Token {
    v: String,
    rv: i64,
    start: String,
}

fn encode_token(rv: i64, after_key: &str, prefix: &str) -> String {
    let token = Token {
        v: "meta.k8s.io/v1".to_owned(),
        rv,
        start: format!(
            "{}\u{0}",
            after_key.strip_prefix(prefix).unwrap_or(after_key)
        ),
    };
    base64::engine::general_purpose::URL_SAFE.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode_token(token: &str, prefix: &str) -> Result<(i64, String), StatusError> {
    let invalid =
        |why: &str| StatusError::bad_request(&format!("continue key is not valid: {why}"));
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token))
        .map_err(|_| invalid("not base64"))?;
    let token: Token = serde_json::from_slice(&raw).map_err(|_| invalid("not a continue token"))?;
    if token.v != "meta.k8s.io/v1" {
        return Err(invalid(
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ));
    }
    let start = token.start.trim_end_matches('\u{0}');
    if start.contains("..") || start.starts_with('/') {
        return Err(invalid("path traversal attempt"));
    }
    Ok((token.rv, format!("{prefix}{start}")))
}

/// Parses a `resourceVersion` parameter.
pub(super) fn parse_rv(rv: &str) -> Result<i64, StatusError> {
    rv.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| StatusError::bad_request(&format!("invalid resource version: {rv}")))
}

/// The answer to a page continued past compaction.
fn continue_expired() -> StatusError {
    StatusError::resource_expired(
        "The provided continue parameter is too old to display a consistent list result. \
         You can start a new list without the continue parameter, or use the continue token \
         in this response to retrieve the remainder of the results. Continuing with the \
         provided token results in an inconsistent list - objects that were created, \
         modified, or deleted between the time the first chunk was returned and now may \
         show up in the list.",
    )
}

/// The entries `opts` selects, at most `limit` of them (0: all), with a continue token when
/// more follow.
fn page(
    entries: Vec<Arc<Entry>>,
    opts: &ListOptions,
    limit: usize,
    rv: i64,
    prefix: &str,
) -> ListResult {
    let mut items = Vec::new();
    let mut last = None;
    let mut more = false;
    for entry in entries {
        if !opts.filter.matches(&entry) {
            continue;
        }
        if limit > 0 && items.len() == limit {
            more = true;
            break;
        }
        last = Some(entry.key.clone());
        items.push(entry.bytes.clone());
    }
    ListResult {
        items,
        resource_version: rv,
        continue_token: more
            .then(|| last.map(|k| encode_token(rv, &k, prefix)))
            .flatten(),
    }
}

impl Storage {
    /// Lists objects of a resource (in one namespace, or all for `None`).
    pub async fn list(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> Result<ListResult, StatusError> {
        let prefix = info.namespace_prefix(namespace);
        let resource_prefix = info.key_prefix();
        if let Some(token) = opts.continue_token.as_deref().filter(|t| !t.is_empty()) {
            if opts
                .resource_version
                .as_deref()
                .is_some_and(|rv| !rv.is_empty() && rv != "0")
            {
                return Err(StatusError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            let (rv, start) = decode_token(token, &resource_prefix)?;
            // The next page from the watch cache when nothing of the resource changed since
            // the first page's revision (a relist in pages, kubectl's chunks of 500): the
            // store would read the same objects at that revision.
            if let Some(entries) = self
                .caches
                .get(info)
                .and_then(|cache| cache.unchanged_since(&prefix, &start, rv, &self.caches))
            {
                return Ok(page(entries, opts, opts.limit, rv, &resource_prefix));
            }
            return self
                .list_from_store(info, &prefix, Some(start), rv, opts)
                .await;
        }
        let rv = opts.resource_version.as_deref().filter(|rv| !rv.is_empty());
        let cache = self
            .caches
            .get(info)
            .ok_or_else(|| StatusError::internal_error("no watch cache for the resource"))?;
        match (rv, opts.resource_version_match.as_deref()) {
            (Some(rv), Some("Exact")) => {
                let rv = parse_rv(rv)?;
                self.list_from_store(info, &prefix, None, rv, opts).await
            }
            (None, Some(m)) => Err(StatusError::bad_request(&format!(
                "resourceVersionMatch is forbidden unless resourceVersion is provided (got {m})"
            ))),
            (Some(rv), None | Some("NotOlderThan")) => {
                let rv = parse_rv(rv)?;
                if rv > 0 && !self.caches.wait_for(rv, FRESHNESS_WAIT).await {
                    let current = self.caches.revision();
                    return Err(StatusError::too_large_resource_version(current, rv));
                }
                let (entries, at) = cache.snapshot_at(&prefix, &self.caches);
                // As upstream's watch cache does, `resourceVersion=0` is served whole, the
                // limit ignored: a relist by pages would read every later page from the store
                // at the first page's revision, and at 5,000 nodes the 300 pages of a pod
                // relist took longer than the watch window, so the watch that followed was
                // too old and the client relisted again, for good.
                let limit = if rv == 0 { 0 } else { opts.limit };
                Ok(page(entries, opts, limit, at, &resource_prefix))
            }
            (Some(_), Some(m)) => Err(StatusError::bad_request(&format!(
                "resourceVersionMatch: Unsupported value: \"{m}\": supported values: \"Exact\", \"NotOlderThan\""
            ))),
            (None, None) => {
                // A consistent read: the cache must have seen the store's
                // latest revision; if it lags, read the store itself.
                let current = self.store.current_revision().await.map_err(internal)?;
                if self
                    .caches
                    .wait_for(current, Duration::from_millis(200))
                    .await
                {
                    let (entries, at) = cache.snapshot_at(&prefix, &self.caches);
                    Ok(page(entries, opts, opts.limit, at, &resource_prefix))
                } else {
                    self.list_from_store(info, &prefix, None, 0, opts).await
                }
            }
        }
    }

    async fn list_from_store(
        &self,
        info: &ResourceInfo,
        prefix: &str,
        start_after: Option<String>,
        rv: i64,
        opts: &ListOptions,
    ) -> Result<ListResult, StatusError> {
        let resource_prefix = info.key_prefix();
        let mut req = rkube_store::ListRequest {
            prefix: prefix.to_owned(),
            start_after,
            limit: if opts.limit > 0 { opts.limit + 1 } else { 0 },
            revision: rv,
        };
        let mut items = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let listed = match self.store.list(req.clone()).await {
                Ok(listed) => listed,
                Err(rkube_store::Error::Compacted { .. }) if req.start_after.is_some() => {
                    return Err(continue_expired());
                }
                Err(rkube_store::Error::Compacted {
                    requested,
                    compacted,
                }) => {
                    return Err(StatusError::resource_expired(&format!(
                        "too old resource version: {requested} ({compacted})"
                    )));
                }
                Err(rkube_store::Error::FutureRevision { requested, current }) => {
                    return Err(StatusError::too_large_resource_version(current, requested));
                }
                Err(err) => return Err(internal(err)),
            };
            req.revision = listed.revision;
            // Without a selector nothing needs decoding: the stored bytes are served with
            // their resource version spliced in (relists of every pod at scale).
            let selects_all = opts.filter.selects_all();
            for kv in &listed.kvs {
                let bytes = if selects_all {
                    object::with_resource_version(&kv.value, kv.mod_revision)
                } else {
                    let Some(entry) =
                        Entry::from_stored(kv.key.clone(), info, &kv.value, kv.mod_revision)
                    else {
                        continue;
                    };
                    if !opts.filter.matches(&entry) {
                        continue;
                    }
                    entry.bytes
                };
                if opts.limit > 0 && items.len() == opts.limit {
                    let token = last.map(|k| encode_token(listed.revision, &k, &resource_prefix));
                    return Ok(ListResult {
                        items,
                        resource_version: listed.revision,
                        continue_token: token,
                    });
                }
                last = Some(kv.key.clone());
                items.push(bytes);
            }
            match (listed.more, listed.kvs.last()) {
                (true, Some(kv)) => req.start_after = Some(kv.key.clone()),
                _ => {
                    return Ok(ListResult {
                        items,
                        resource_version: listed.revision,
                        continue_token: None,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_relative_to_the_resource() {
        let token = encode_token(42, "/registry/pods/default/web-1", "/registry/pods/");
        let (rv, start) = decode_token(&token, "/registry/pods/").unwrap();
        assert_eq!((rv, start.as_str()), (42, "/registry/pods/default/web-1"));
        assert!(decode_token("bm90IGpzb24", "/registry/pods/").is_err());
    }
}
