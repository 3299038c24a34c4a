//! Smoke tests of the etcd backend against a real etcd (`/usr/bin/etcd`).

use bytes::Bytes;
use rkube_store::etcd::{EtcdConfig, EtcdStore};
use rkube_store::{Error, EventKind, ListRequest, Store, WatchEvent, WatchStream};
use rkube_testkit::EtcdProcess;
use std::time::Duration;

/// How long a test waits for a watch event that should come.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

async fn store_on(etcd: &EtcdProcess, key_prefix: &str) -> EtcdStore {
    EtcdStore::connect(EtcdConfig {
        endpoints: vec![etcd.endpoint()],
        key_prefix: key_prefix.to_owned(),
        tls: None,
    })
    .await
    .expect("connect to etcd")
}

async fn start() -> (EtcdProcess, EtcdStore) {
    let etcd = EtcdProcess::start().await.expect("start etcd");
    let store = store_on(&etcd, "/rkube-test").await;
    (etcd, store)
}

fn value(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

async fn next_event(watch: &mut WatchStream) -> WatchEvent {
    tokio::time::timeout(EVENT_TIMEOUT, watch.recv())
        .await
        .expect("a watch event in time")
        .expect("the watch is still open")
        .expect("an event, not an error")
}

fn list(prefix: &str, start_after: Option<&str>, limit: usize, revision: i64) -> ListRequest {
    ListRequest {
        prefix: prefix.to_owned(),
        start_after: start_after.map(str::to_owned),
        limit,
        revision,
    }
}

#[tokio::test]
async fn conditional_writes_follow_mod_revisions() {
    let (_etcd, store) = start().await;
    let key = "/registry/pods/default/web-0";

    let created = store.create(key, value("v1"), None).await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), created);
    let kv = store.get(key).await.unwrap().unwrap();
    assert_eq!(kv.key, key);
    assert_eq!(kv.value, value("v1"));
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (created, created, 1)
    );

    let err = store.create(key, value("again"), None).await.unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists { key: ref k } if k == key),
        "{err}"
    );

    let updated = store.update(key, value("v2"), created, None).await.unwrap();
    assert_eq!(updated, created + 1);
    let err = store
        .update(key, value("v3"), created, None)
        .await
        .unwrap_err();
    match err {
        Error::Conflict {
            key: k,
            expected,
            current,
        } => {
            assert_eq!(k, key);
            assert_eq!(expected, created);
            assert_eq!(current.mod_revision, updated);
            assert_eq!(current.value, value("v2"));
            assert_eq!(current.version, 2);
        }
        other => panic!("expected a conflict, got {other}"),
    }

    let err = store
        .update("/registry/pods/default/none", value("x"), 0, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let err = store
        .delete("/registry/pods/default/none", 0)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    let err = store.delete(key, created).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    let (deleted_at, deleted) = store.delete(key, updated).await.unwrap();
    assert_eq!(deleted_at, updated + 1);
    assert_eq!(deleted.value, value("v2"));
    assert_eq!(deleted.mod_revision, updated);
    assert_eq!(store.get(key).await.unwrap(), None);

    let put = store.put(key, value("p1"), None).await.unwrap();
    assert_eq!(put, deleted_at + 1);
    let put_again = store.put(key, value("p2"), None).await.unwrap();
    let kv = store.get(key).await.unwrap().unwrap();
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (put, put_again, 2)
    );

    let (gone_at, gone) = store.delete_any(key).await.unwrap().unwrap();
    assert_eq!(gone_at, put_again + 1);
    assert_eq!(gone.value, value("p2"));
    assert_eq!(store.delete_any(key).await.unwrap(), None);
    // Deleting nothing writes nothing.
    assert_eq!(store.current_revision().await.unwrap(), gone_at);
}

#[tokio::test]
async fn lists_paginate_at_one_revision_and_keep_prefixes_apart() {
    let (etcd, store) = start().await;
    for name in ["a", "b", "c", "d", "e"] {
        store
            .create(&format!("/registry/pods/ns/{name}"), value(name), None)
            .await
            .unwrap();
    }
    store
        .create("/registry/pods/other", value("x"), None)
        .await
        .unwrap();
    store
        .create("/registry/services/ns/s", value("s"), None)
        .await
        .unwrap();

    let first = store
        .list(list("/registry/pods/ns/", None, 2, 0))
        .await
        .unwrap();
    let keys: Vec<_> = first.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/registry/pods/ns/a", "/registry/pods/ns/b"]);
    assert!(first.more);
    let at = first.revision;
    assert_eq!(at, store.current_revision().await.unwrap());

    // A write between pages does not show in later pages at that revision.
    store
        .delete_any("/registry/pods/ns/d")
        .await
        .unwrap()
        .unwrap();
    let second = store
        .list(list(
            "/registry/pods/ns/",
            Some("/registry/pods/ns/b"),
            2,
            at,
        ))
        .await
        .unwrap();
    let keys: Vec<_> = second.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/registry/pods/ns/c", "/registry/pods/ns/d"]);
    assert_eq!(second.revision, at);
    assert!(second.more);
    let last = store
        .list(list(
            "/registry/pods/ns/",
            Some("/registry/pods/ns/d"),
            2,
            at,
        ))
        .await
        .unwrap();
    assert_eq!(last.kvs.len(), 1);
    assert!(!last.more);

    let now = store
        .list(list("/registry/pods/ns/", None, 0, 0))
        .await
        .unwrap();
    assert_eq!(now.kvs.len(), 4);
    assert!(!now.more);

    let err = store
        .list(list("/registry/", None, 0, now.revision + 100))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::FutureRevision { requested, current } if requested == now.revision + 100 && current == now.revision),
        "{err}"
    );

    // Another prefix on the same etcd sees none of these keys, and ours come
    // back without the prefix.
    let other = store_on(&etcd, "/another").await;
    assert!(
        other
            .list(list("", None, 0, 0))
            .await
            .unwrap()
            .kvs
            .is_empty()
    );
    other
        .create("/registry/pods/ns/a", value("mine"), None)
        .await
        .unwrap();
    let all = store.list(list("", None, 0, 0)).await.unwrap();
    assert_eq!(all.kvs.len(), 6);
    assert!(all.kvs.iter().all(|kv| kv.key.starts_with("/registry/")));
    assert_eq!(
        store
            .get("/registry/pods/ns/a")
            .await
            .unwrap()
            .unwrap()
            .value,
        value("a")
    );
}

#[tokio::test]
async fn watches_deliver_history_and_previous_values() {
    let (_etcd, store) = start().await;
    let key = "/registry/configmaps/ns/cm";
    let created = store.create(key, value("v1"), None).await.unwrap();
    let updated = store.update(key, value("v2"), created, None).await.unwrap();

    let mut from_now = store.watch("/registry/configmaps/", 0).await.unwrap();
    let mut from_start = store.watch("/registry/configmaps/", created).await.unwrap();
    store
        .create("/registry/secrets/ns/s", value("s"), None)
        .await
        .unwrap();
    let (deleted, _) = store.delete(key, updated).await.unwrap();

    let event = next_event(&mut from_start).await;
    assert_eq!(event.kind, EventKind::Put);
    assert_eq!(
        (
            event.kv.key.as_str(),
            event.kv.mod_revision,
            event.kv.version
        ),
        (key, created, 1)
    );
    assert_eq!(event.prev, None);
    let event = next_event(&mut from_start).await;
    assert_eq!(event.kind, EventKind::Put);
    assert_eq!(event.kv.value, value("v2"));
    assert_eq!(
        event.prev.as_ref().map(|prev| prev.value.clone()),
        Some(value("v1"))
    );
    let event = next_event(&mut from_start).await;
    assert_eq!(event.kind, EventKind::Delete);

    let event = next_event(&mut from_now).await;
    assert_eq!(event.kind, EventKind::Delete);
    assert_eq!(event.kv.key, key);
    assert_eq!(event.kv.mod_revision, deleted);
    assert_eq!((event.kv.create_revision, event.kv.version), (0, 0));
    assert!(event.kv.value.is_empty());
    let prev = event.prev.expect("a delete carries the previous value");
    assert_eq!((prev.value, prev.mod_revision), (value("v2"), updated));
}

#[tokio::test]
async fn compaction_discards_history() {
    let (_etcd, store) = start().await;
    assert_eq!(store.compacted_revision().await.unwrap(), 0);
    let first = store.create("/registry/a", value("1"), None).await.unwrap();
    let second = store
        .update("/registry/a", value("2"), first, None)
        .await
        .unwrap();
    store
        .update("/registry/a", value("3"), second, None)
        .await
        .unwrap();

    store.compact(second).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), second);
    // At or below the compacted revision: nothing to do.
    store.compact(second).await.unwrap();
    store.compact(first).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), second);

    let err = store
        .list(list("/registry/", None, 0, first))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Compacted { requested, compacted } if requested == first && compacted == second),
        "{err}"
    );
    let at_compacted = store
        .list(list("/registry/", None, 0, second))
        .await
        .unwrap();
    assert_eq!(at_compacted.kvs[0].value, value("2"));

    let err = store.watch("/registry/", first).await.unwrap_err();
    assert!(
        matches!(err, Error::Compacted { requested, compacted } if requested == first && compacted == second),
        "{err}"
    );
    let mut from_compacted = store.watch("/registry/", second).await.unwrap();
    assert_eq!(next_event(&mut from_compacted).await.kv.value, value("2"));

    let current = store.current_revision().await.unwrap();
    let err = store.compact(current + 10).await.unwrap_err();
    assert!(matches!(err, Error::FutureRevision { .. }), "{err}");

    // Our compaction record is not a caller key.
    let all = store.list(list("", None, 0, 0)).await.unwrap();
    assert_eq!(all.kvs.len(), 1);
}

#[tokio::test]
async fn keys_with_a_ttl_expire_as_delete_events() {
    let (_etcd, store) = start().await;
    let key = "/registry/events/ns/e1";
    let mut watch = store.watch("/registry/events/", 0).await.unwrap();
    let created = store
        .create(key, value("event"), Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert!(store.get(key).await.unwrap().is_some());

    let event = next_event(&mut watch).await;
    assert_eq!(
        (event.kind, event.kv.mod_revision),
        (EventKind::Put, created)
    );
    let expired = next_event(&mut watch).await;
    assert_eq!(expired.kind, EventKind::Delete);
    assert_eq!(expired.kv.key, key);
    assert!(expired.kv.mod_revision > created);
    assert_eq!(expired.prev.map(|prev| prev.value), Some(value("event")));
    assert_eq!(store.get(key).await.unwrap(), None);
}

#[tokio::test]
async fn a_watch_ends_with_an_error_when_etcd_goes_away() {
    let (etcd, store) = start().await;
    let mut watch = store.watch("/registry/", 0).await.unwrap();
    drop(etcd);
    let item = tokio::time::timeout(EVENT_TIMEOUT, watch.recv())
        .await
        .expect("the watch notices in time");
    assert!(matches!(item, Some(Err(Error::Etcd { .. }))), "{item:?}");
    assert!(watch.recv().await.is_none());
}

#[tokio::test]
async fn snapshots_are_written_to_the_destination() {
    let (_etcd, store) = start().await;
    store.create("/registry/a", value("1"), None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("etcd.snapshot");
    store.snapshot(&dest).await.unwrap();
    let size = std::fs::metadata(&dest).unwrap().len();
    assert!(size > 0);
    assert!(!dir.path().join("etcd.snapshot.tmp").exists());

    let err = store
        .snapshot(&dir.path().join("missing/dir/snap"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

/// A gauge from etcd's `/metrics` (served on the client URL).
fn etcd_gauge(etcd: &EtcdProcess, name: &str) -> f64 {
    use std::io::{Read, Write};
    let addr = etcd.endpoint().trim_start_matches("http://").to_owned();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(conn, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut body = String::new();
    conn.read_to_string(&mut body).unwrap();
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no gauge {name} in etcd's metrics"))
}

#[tokio::test]
async fn dropping_a_watch_cancels_it_in_etcd() {
    let (etcd, store) = start().await;
    let watch = store.watch("/registry/", 0).await.unwrap();
    assert_eq!(etcd_gauge(&etcd, "etcd_debugging_mvcc_watcher_total"), 1.0);
    drop(watch);
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    while etcd_gauge(&etcd, "etcd_debugging_mvcc_watcher_total") != 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the etcd watch is still there"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn writes_with_the_same_long_ttl_share_a_lease() {
    let (etcd, store) = start().await;
    let long = Some(Duration::from_secs(100));
    store
        .create("/registry/events/a", value("a"), long)
        .await
        .unwrap();
    store
        .put("/registry/events/b", value("b"), long)
        .await
        .unwrap();
    let short = Some(Duration::from_secs(2));
    store
        .create("/registry/events/c", value("c"), short)
        .await
        .unwrap();
    store
        .create("/registry/events/d", value("d"), short)
        .await
        .unwrap();
    store
        .create("/registry/events/e", value("e"), None)
        .await
        .unwrap();

    // Look at the raw keys: stored under the prefix, with their leases.
    let mut raw = etcd_client::Client::connect([etcd.endpoint()], None)
        .await
        .unwrap();
    let resp = raw
        .get(
            "/rkube-test/registry/events/",
            Some(etcd_client::GetOptions::new().with_prefix()),
        )
        .await
        .unwrap();
    let leases: Vec<i64> = resp.kvs().iter().map(|kv| kv.lease()).collect();
    assert_eq!(leases.len(), 5);
    assert_ne!(leases[0], 0);
    assert_eq!(leases[0], leases[1], "same TTL within the reuse window");
    assert_ne!(leases[2], 0);
    assert_ne!(leases[2], leases[3], "no reuse for a 2 s TTL");
    assert_eq!(leases[4], 0);
    // Granted with the reuse window on top: 100 s + 5 %.
    let granted = raw.lease_time_to_live(leases[0], None).await.unwrap();
    assert_eq!(granted.granted_ttl(), 105);
}

#[tokio::test]
async fn a_watch_left_behind_by_a_compaction_ends_with_compacted() {
    let (_etcd, store) = start().await;
    let first = store.put("/registry/k", value("0"), None).await.unwrap();
    for n in 1..=5 {
        store
            .put("/registry/k", value(&n.to_string()), None)
            .await
            .unwrap();
    }
    let current = store.current_revision().await.unwrap();
    // etcd catches a new watcher up from history every 100 ms: compacting
    // right away usually leaves it behind, and etcd then cancels it. If etcd
    // was quicker, the watch simply delivers everything.
    let mut watch = store.watch("/registry/", first).await.unwrap();
    store.compact(current).await.unwrap();
    let mut next = first;
    loop {
        let item = tokio::time::timeout(EVENT_TIMEOUT, watch.recv())
            .await
            .expect("an item in time")
            .expect("the watch ends with an error, not silently");
        match item {
            Ok(event) => {
                assert_eq!(event.kv.mod_revision, next);
                next += 1;
                if next > current {
                    break;
                }
            }
            Err(err) => {
                assert!(
                    matches!(err, Error::Compacted { requested, compacted } if requested == next && compacted == current),
                    "{err}"
                );
                assert!(watch.recv().await.is_none());
                break;
            }
        }
    }
}

#[tokio::test]
async fn several_slow_watchers_do_not_stall_the_connection() {
    // Each watch is an HTTP/2 stream on the client's one connection: if
    // unread events stayed in HTTP/2 buffers, a few slow watchers would use
    // up the connection's flow-control window and stall every request.
    let (_etcd, store) = start().await;
    let mut watchers = Vec::new();
    for _ in 0..3 {
        watchers.push(store.watch("/registry/big/", 0).await.unwrap());
    }
    let big = Bytes::from(vec![b'x'; 4096]);
    let total = 2_000;
    let writes = async {
        for i in 0..total {
            store
                .create(&format!("/registry/big/{i:05}"), big.clone(), None)
                .await
                .unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), writes)
        .await
        .expect("writes go on while the watchers read nothing");
    for watcher in &mut watchers {
        for i in 0..total {
            assert_eq!(
                next_event(watcher).await.kv.key,
                format!("/registry/big/{i:05}")
            );
        }
    }
}
