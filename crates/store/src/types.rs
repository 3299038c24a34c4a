//! Plain data carried through the store interface.

use bytes::Bytes;

/// One version of a key, as etcd reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The key, e.g. `/registry/pods/default/web-0`.
    pub key: String,
    /// The stored bytes (empty for the key of a delete event).
    pub value: Bytes,
    /// The revision that created this incarnation of the key (0 in delete events).
    pub create_revision: i64,
    /// The revision of the write that produced this version.
    pub mod_revision: i64,
    /// How many writes this incarnation has seen, 1 on create (0 in delete events).
    pub version: i64,
}

/// What a [`ListRequest`] asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListRequest {
    /// Every key starting with this prefix is in range.
    pub prefix: String,
    /// Continue a paginated list: only keys strictly after this one.
    pub start_after: Option<String>,
    /// At most this many keys; 0 means no limit.
    pub limit: usize,
    /// Read at this revision; 0 means the current one.
    pub revision: i64,
}

/// The answer to a [`ListRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListResponse {
    /// The keys in range, in key order.
    pub kvs: Vec<KeyValue>,
    /// The revision the list is consistent at (pass it back to read the next page).
    pub revision: i64,
    /// Whether keys beyond the limit remain.
    pub more: bool,
}

/// Whether a watch event wrote or deleted its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A create or an update.
    Put,
    /// A delete, explicit or by TTL expiry.
    Delete,
}

/// One change delivered by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// Put or delete.
    pub kind: EventKind,
    /// The new version; for a delete, only `key` and `mod_revision` are set.
    pub kv: KeyValue,
    /// The version before this change, if the key existed.
    pub prev: Option<KeyValue>,
}

/// The smallest key greater than every key that starts with `prefix`, as
/// etcd's range end for a prefix; empty when no such key exists.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte() {
        assert_eq!(prefix_end(b"/registry/pods/"), b"/registry/pods0".to_vec());
    }

    #[test]
    fn prefix_end_drops_trailing_ff_bytes() {
        assert_eq!(prefix_end(&[b'a', 0xff, 0xff]), b"b".to_vec());
        assert!(prefix_end(&[0xff]).is_empty());
    }
}
