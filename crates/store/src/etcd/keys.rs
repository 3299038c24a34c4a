//! How the caller's keys map to etcd keys under the configured prefix.
//!
//! Every caller key `k` is stored as `key_prefix + k`. One etcd key of ours
//! lives under the prefix too: the compacted-revision record at
//! `key_prefix + "\0compact_rev_key"`. Caller keys and prefixes that start with
//! a NUL byte are reserved for it (no Kubernetes key does), and ranges over the
//! whole key space start after the reserved area, so the record never shows up
//! in a caller's list or watch.

use crate::{Error, KeyValue, Result, prefix_end};
use bytes::Bytes;

/// Where the compacted revision is recorded, after the key prefix.
const COMPACT_KEY: &[u8] = b"\0compact_rev_key";
/// The first key after the reserved area (caller keys starting with NUL).
const FIRST_CALLER_KEY: &[u8] = b"\x01";

/// The caller's key space inside etcd.
#[derive(Clone, Debug)]
pub(super) struct KeySpace {
    prefix: Vec<u8>,
}

impl KeySpace {
    /// The key space under `prefix` (may be empty).
    pub(super) fn new(prefix: &str) -> Self {
        KeySpace {
            prefix: prefix.as_bytes().to_vec(),
        }
    }

    /// The etcd key for a caller key.
    pub(super) fn key(&self, key: &str) -> Result<Vec<u8>> {
        check_not_reserved(key)?;
        Ok(self.join(key.as_bytes()))
    }

    /// The etcd key that records the compacted revision.
    pub(super) fn compact_key(&self) -> Vec<u8> {
        self.join(COMPACT_KEY)
    }

    /// The etcd range `[start, end)` of the caller keys that start with
    /// `prefix`, and (when continuing a list) come strictly after `start_after`.
    pub(super) fn range(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        check_not_reserved(prefix)?;
        let full_prefix = self.join(prefix.as_bytes());
        let mut end = prefix_end(&full_prefix);
        if end.is_empty() {
            // No key is greater than every key with this prefix: etcd's
            // "\0" range end means "to the end of the key space".
            end = vec![0];
        }
        let mut start = if prefix.is_empty() {
            self.join(FIRST_CALLER_KEY)
        } else {
            full_prefix
        };
        if let Some(after) = start_after {
            // The smallest key strictly greater than `after`.
            let mut next = self.join(after.as_bytes());
            next.push(0);
            start = start.max(next);
        }
        Ok((start, end))
    }

    /// The caller's key for an etcd key.
    pub(super) fn caller_key(&self, key: Vec<u8>) -> Result<String> {
        let Some(rest) = key.strip_prefix(self.prefix.as_slice()) else {
            return Err(Error::InvalidData {
                key: String::from_utf8_lossy(&key).into_owned(),
                reason: "etcd returned a key outside the configured key prefix".to_owned(),
            });
        };
        String::from_utf8(rest.to_vec()).map_err(|err| Error::InvalidData {
            key: String::from_utf8_lossy(err.as_bytes()).into_owned(),
            reason: "the key is not UTF-8".to_owned(),
        })
    }

    /// An etcd key-value pair as the caller sees it.
    pub(super) fn kv(&self, kv: etcd_client::KeyValue) -> Result<KeyValue> {
        let (create_revision, mod_revision, version) =
            (kv.create_revision(), kv.mod_revision(), kv.version());
        let (key, value) = kv.into_key_value();
        Ok(KeyValue {
            key: self.caller_key(key)?,
            value: Bytes::from(value),
            create_revision,
            mod_revision,
            version,
        })
    }

    /// Like [`KeySpace::kv`], from a borrowed pair (watch events).
    pub(super) fn kv_ref(&self, kv: &etcd_client::KeyValue) -> Result<KeyValue> {
        Ok(KeyValue {
            key: self.caller_key(kv.key().to_vec())?,
            value: Bytes::copy_from_slice(kv.value()),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
            version: kv.version(),
        })
    }

    fn join(&self, rest: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + rest.len());
        key.extend_from_slice(&self.prefix);
        key.extend_from_slice(rest);
        key
    }
}

fn check_not_reserved(key: &str) -> Result<()> {
    if key.starts_with('\0') {
        return Err(Error::InvalidData {
            key: key.to_owned(),
            reason: "keys starting with a NUL byte are reserved by the etcd backend".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stored_under_the_prefix_and_stripped_on_the_way_back() {
        let keys = KeySpace::new("/rkube");
        let key = keys.key("/registry/pods/a").unwrap();
        assert_eq!(key, b"/rkube/registry/pods/a".to_vec());
        assert_eq!(keys.caller_key(key).unwrap(), "/registry/pods/a");
    }

    #[test]
    fn a_key_outside_the_prefix_or_not_utf8_is_invalid_data() {
        let keys = KeySpace::new("/rkube");
        assert!(matches!(
            keys.caller_key(b"/other/x".to_vec()),
            Err(Error::InvalidData { .. })
        ));
        assert!(matches!(
            keys.caller_key(b"/rkube/\xff".to_vec()),
            Err(Error::InvalidData { .. })
        ));
    }

    #[test]
    fn a_prefix_range_ends_at_the_prefix_end() {
        let keys = KeySpace::new("/p");
        let (start, end) = keys.range("/registry/pods/", None).unwrap();
        assert_eq!(start, b"/p/registry/pods/".to_vec());
        assert_eq!(end, b"/p/registry/pods0".to_vec());
    }

    #[test]
    fn a_continued_range_starts_just_after_the_last_key() {
        let keys = KeySpace::new("");
        let (start, _) = keys.range("/a/", Some("/a/x")).unwrap();
        assert_eq!(start, b"/a/x\0".to_vec());
    }

    #[test]
    fn a_start_after_before_the_prefix_does_not_widen_the_range() {
        let keys = KeySpace::new("");
        let (start, _) = keys.range("/b/", Some("/a")).unwrap();
        assert_eq!(start, b"/b/".to_vec());
    }

    #[test]
    fn the_whole_key_space_skips_the_compaction_record() {
        let keys = KeySpace::new("/p");
        let (start, end) = keys.range("", None).unwrap();
        assert!(start > keys.compact_key());
        assert_eq!(end, b"/q".to_vec());
        let unprefixed = KeySpace::new("");
        let (start, end) = unprefixed.range("", None).unwrap();
        assert!(start > unprefixed.compact_key());
        assert_eq!(end, vec![0]);
    }

    #[test]
    fn keys_starting_with_nul_are_reserved() {
        let keys = KeySpace::new("");
        assert!(matches!(
            keys.key("\0compact_rev_key"),
            Err(Error::InvalidData { .. })
        ));
        assert!(matches!(
            keys.range("\0", None),
            Err(Error::InvalidData { .. })
        ));
    }

    #[test]
    fn a_prefix_of_ff_bytes_ranges_to_the_end() {
        // Not reachable from UTF-8 keys, but prefix_end's empty answer must
        // not turn into a single-key range.
        let keys = KeySpace { prefix: vec![0xff] };
        let (_, end) = keys.range("", None).unwrap();
        assert_eq!(end, vec![0]);
    }
}
