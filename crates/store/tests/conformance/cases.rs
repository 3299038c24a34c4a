//! The conformance cases. Each takes a fresh, empty store.

use bytes::Bytes;
use rkube_store::{
    Compactor, Error, EventKind, KeyValue, ListRequest, Store, WatchEvent, WatchStream,
};
use std::sync::Arc;
use std::time::Duration;

type S = Arc<dyn Store>;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn list_req(prefix: &str) -> ListRequest {
    ListRequest {
        prefix: prefix.to_owned(),
        ..ListRequest::default()
    }
}

async fn get(s: &S, key: &str) -> KeyValue {
    s.get(key).await.expect("get").expect("key exists")
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

async fn next_event(w: &mut WatchStream) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(20), w.recv())
        .await
        .expect("a watch event within 20 s")
        .expect("the watch is still open")
        .expect("an event, not an error")
}

/// Asserts that nothing arrives on the watch for a short while.
async fn no_event(w: &mut WatchStream) {
    if let Ok(got) = tokio::time::timeout(Duration::from_millis(300), w.recv()).await {
        panic!("expected no event, got {got:?}");
    }
}

/// A watch from a compacted revision fails, from `watch` or as its first item.
async fn assert_watch_compacted(s: &S, prefix: &str, from: i64) {
    match s.watch(prefix, from).await {
        Err(err) => assert!(err.is_compacted(), "expected Compacted, got {err}"),
        Ok(mut w) => {
            let item = tokio::time::timeout(Duration::from_secs(20), w.recv())
                .await
                .expect("an answer within 20 s")
                .expect("an item");
            match item {
                Err(err) => assert!(err.is_compacted(), "expected Compacted, got {err}"),
                Ok(event) => panic!("expected Compacted, got event {event:?}"),
            }
        }
    }
}

pub async fn revision_grows_by_one_with_every_write(s: S) {
    let r0 = s.current_revision().await.unwrap();
    let r1 = s.create("/registry/a", b("1"), None).await.unwrap();
    assert_eq!(r1, r0 + 1);
    let r2 = s.update("/registry/a", b("2"), r1, None).await.unwrap();
    assert_eq!(r2, r1 + 1);
    let r3 = s.put("/registry/b", b("x"), None).await.unwrap();
    assert_eq!(r3, r2 + 1);
    let (r4, _) = s.delete("/registry/a", r2).await.unwrap();
    assert_eq!(r4, r3 + 1);
    assert_eq!(s.current_revision().await.unwrap(), r4);
    // Refused writes take no revision.
    assert!(s.create("/registry/b", b("y"), None).await.is_err());
    assert!(s.update("/registry/b", b("y"), r1, None).await.is_err());
    assert_eq!(s.current_revision().await.unwrap(), r4);
}

pub async fn create_fails_when_the_key_exists(s: S) {
    let rev = s.create("/registry/k", b("first"), None).await.unwrap();
    let kv = get(&s, "/registry/k").await;
    assert_eq!(
        kv,
        KeyValue {
            key: "/registry/k".to_owned(),
            value: b("first"),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
        }
    );
    let err = s
        .create("/registry/k", b("second"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists { ref key } if key == "/registry/k"),
        "{err}"
    );
    assert_eq!(get(&s, "/registry/k").await.value, b("first"));
}

pub async fn update_bumps_version_and_keeps_create_revision(s: S) {
    let r1 = s.create("/registry/k", b("v1"), None).await.unwrap();
    let r2 = s.update("/registry/k", b("v2"), r1, None).await.unwrap();
    let kv = get(&s, "/registry/k").await;
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r1, r2, 2)
    );
    assert_eq!(kv.value, b("v2"));
    let r3 = s.update("/registry/k", b("v3"), r2, None).await.unwrap();
    let kv = get(&s, "/registry/k").await;
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r1, r3, 3)
    );
}

pub async fn update_with_a_stale_revision_conflicts_and_reports_the_current_value(s: S) {
    let r1 = s.create("/registry/k", b("v1"), None).await.unwrap();
    let r2 = s.update("/registry/k", b("v2"), r1, None).await.unwrap();
    match s.update("/registry/k", b("v3"), r1, None).await {
        Err(Error::Conflict {
            key,
            expected,
            current,
        }) => {
            assert_eq!(key, "/registry/k");
            assert_eq!(expected, r1);
            assert_eq!(current.mod_revision, r2);
            assert_eq!(current.value, b("v2"));
            assert_eq!(current.version, 2);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(get(&s, "/registry/k").await.value, b("v2"));
}

pub async fn update_and_delete_of_a_missing_key_are_not_found(s: S) {
    let err = s
        .update("/registry/none", b("x"), 1, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let err = s.delete("/registry/none", 1).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(s.get("/registry/none").await.unwrap().is_none());
}

pub async fn put_creates_and_overwrites_unconditionally(s: S) {
    let r1 = s.put("/registry/p", b("a"), None).await.unwrap();
    let kv = get(&s, "/registry/p").await;
    assert_eq!((kv.create_revision, kv.version), (r1, 1));
    let r2 = s.put("/registry/p", b("b"), None).await.unwrap();
    let kv = get(&s, "/registry/p").await;
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r1, r2, 2)
    );
    assert_eq!(kv.value, b("b"));
}

pub async fn delete_is_guarded_by_the_mod_revision(s: S) {
    let r1 = s.create("/registry/d", b("v"), None).await.unwrap();
    let err = s.delete("/registry/d", r1 + 100).await.unwrap_err();
    assert!(
        matches!(err, Error::Conflict { ref current, .. } if current.mod_revision == r1),
        "{err}"
    );
    assert!(s.get("/registry/d").await.unwrap().is_some());
    let (r2, prev) = s.delete("/registry/d", r1).await.unwrap();
    assert_eq!(r2, r1 + 1);
    assert_eq!((prev.mod_revision, prev.value), (r1, b("v")));
    assert!(s.get("/registry/d").await.unwrap().is_none());
}

pub async fn delete_any_returns_the_previous_value_or_none(s: S) {
    assert!(s.delete_any("/registry/none").await.unwrap().is_none());
    let r1 = s.create("/registry/d", b("v"), None).await.unwrap();
    let (r2, prev) = s.delete_any("/registry/d").await.unwrap().expect("deleted");
    assert_eq!(r2, r1 + 1);
    assert_eq!(prev.value, b("v"));
    assert!(s.get("/registry/d").await.unwrap().is_none());
}

pub async fn recreating_a_deleted_key_starts_a_new_incarnation(s: S) {
    let r1 = s.create("/registry/r", b("one"), None).await.unwrap();
    s.delete("/registry/r", r1).await.unwrap();
    let r3 = s.create("/registry/r", b("two"), None).await.unwrap();
    let kv = get(&s, "/registry/r").await;
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r3, r3, 1)
    );
}

pub async fn values_round_trip_byte_for_byte(s: S) {
    let binary: Bytes = (0..=255u8).cycle().take(4096).collect::<Vec<_>>().into();
    let large: Bytes = vec![b'x'; 512 * 1024].into();
    s.create("/registry/bin", binary.clone(), None)
        .await
        .unwrap();
    s.create("/registry/empty", Bytes::new(), None)
        .await
        .unwrap();
    s.create("/registry/large", large.clone(), None)
        .await
        .unwrap();
    assert_eq!(get(&s, "/registry/bin").await.value, binary);
    assert_eq!(get(&s, "/registry/empty").await.value, Bytes::new());
    assert_eq!(get(&s, "/registry/large").await.value, large);
    let listed = s.list(list_req("/registry/")).await.unwrap();
    assert_eq!(listed.kvs[0].value, binary);
}

pub async fn list_returns_only_the_prefix_in_key_order(s: S) {
    for key in [
        "/registry/pods/b",
        "/registry/pods0",
        "/registry/pods/a/x",
        "/registry/pod",
        "/registry/podsx",
        "/registry/pods/a",
    ] {
        s.create(key, b(key), None).await.unwrap();
    }
    let listed = s.list(list_req("/registry/pods/")).await.unwrap();
    assert_eq!(
        keys(&listed.kvs),
        ["/registry/pods/a", "/registry/pods/a/x", "/registry/pods/b"]
    );
    assert!(!listed.more);
    assert_eq!(listed.revision, s.current_revision().await.unwrap());
    assert_eq!(listed.kvs[0].value, b("/registry/pods/a"));
    let none = s.list(list_req("/registry/services/")).await.unwrap();
    assert!(none.kvs.is_empty());
}

pub async fn list_paginates_with_limit_and_continue_at_one_revision(s: S) {
    let mut revs = Vec::new();
    for i in 0..10 {
        let key = format!("/registry/cm/k{i:02}");
        revs.push(s.create(&key, b("v1"), None).await.unwrap());
    }
    let page = |start_after: Option<String>, revision| ListRequest {
        prefix: "/registry/cm/".to_owned(),
        start_after,
        limit: 4,
        revision,
    };
    let first = s.list(page(None, 0)).await.unwrap();
    assert_eq!(
        keys(&first.kvs),
        [
            "/registry/cm/k00",
            "/registry/cm/k01",
            "/registry/cm/k02",
            "/registry/cm/k03"
        ]
    );
    assert!(first.more);
    let at = first.revision;
    // Writes between pages do not show in later pages of the same list.
    s.update("/registry/cm/k05", b("v2"), revs[5], None)
        .await
        .unwrap();
    s.delete("/registry/cm/k06", revs[6]).await.unwrap();
    s.create("/registry/cm/k10", b("v1"), None).await.unwrap();
    let second = s
        .list(page(Some("/registry/cm/k03".to_owned()), at))
        .await
        .unwrap();
    assert_eq!(
        keys(&second.kvs),
        [
            "/registry/cm/k04",
            "/registry/cm/k05",
            "/registry/cm/k06",
            "/registry/cm/k07"
        ]
    );
    assert_eq!(second.kvs[1].value, b("v1"));
    assert_eq!(second.revision, at);
    assert!(second.more);
    let third = s
        .list(page(Some("/registry/cm/k07".to_owned()), at))
        .await
        .unwrap();
    assert_eq!(keys(&third.kvs), ["/registry/cm/k08", "/registry/cm/k09"]);
    assert!(!third.more);
    // A fresh list sees the writes.
    let now = s.list(list_req("/registry/cm/")).await.unwrap();
    assert_eq!(now.kvs.len(), 10);
    assert!(keys(&now.kvs).contains(&"/registry/cm/k10"));
    assert!(!keys(&now.kvs).contains(&"/registry/cm/k06"));
    // An exact page boundary: nothing more.
    let exact = s
        .list(ListRequest {
            limit: 10,
            ..list_req("/registry/cm/")
        })
        .await
        .unwrap();
    assert_eq!(exact.kvs.len(), 10);
    assert!(!exact.more);
}

pub async fn list_at_a_past_revision_sees_the_state_then(s: S) {
    let r1 = s.create("/registry/x/a", b("a1"), None).await.unwrap();
    let r2 = s.create("/registry/x/b", b("b1"), None).await.unwrap();
    let r3 = s.update("/registry/x/a", b("a2"), r1, None).await.unwrap();
    let r4 = s.delete("/registry/x/b", r2).await.unwrap().0;
    let r5 = s.create("/registry/x/c", b("c1"), None).await.unwrap();
    let at = |revision| ListRequest {
        revision,
        ..list_req("/registry/x/")
    };
    let l = s.list(at(r2)).await.unwrap();
    assert_eq!(keys(&l.kvs), ["/registry/x/a", "/registry/x/b"]);
    assert_eq!(
        (l.kvs[0].value.clone(), l.kvs[0].mod_revision),
        (b("a1"), r1)
    );
    assert_eq!(l.revision, r2);
    let l = s.list(at(r3)).await.unwrap();
    assert_eq!(keys(&l.kvs), ["/registry/x/a", "/registry/x/b"]);
    assert_eq!((l.kvs[0].value.clone(), l.kvs[0].version), (b("a2"), 2));
    let l = s.list(at(r4)).await.unwrap();
    assert_eq!(keys(&l.kvs), ["/registry/x/a"]);
    let l = s.list(at(r5)).await.unwrap();
    assert_eq!(keys(&l.kvs), ["/registry/x/a", "/registry/x/c"]);
    let limited = s.list(ListRequest { limit: 1, ..at(r2) }).await.unwrap();
    assert_eq!(keys(&limited.kvs), ["/registry/x/a"]);
    assert!(limited.more);
}

pub async fn list_at_a_future_revision_fails(s: S) {
    s.create("/registry/f", b("v"), None).await.unwrap();
    let current = s.current_revision().await.unwrap();
    let err = s
        .list(ListRequest {
            revision: current + 10,
            ..list_req("/registry/")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FutureRevision { .. }), "{err}");
}

pub async fn watch_delivers_every_later_change_in_order_with_the_previous_value(s: S) {
    let from = s.current_revision().await.unwrap() + 1;
    let mut w = s.watch("/registry/w/", from).await.unwrap();
    let r1 = s.create("/registry/w/a", b("v1"), None).await.unwrap();
    let r2 = s.update("/registry/w/a", b("v2"), r1, None).await.unwrap();
    let (r3, _) = s.delete("/registry/w/a", r2).await.unwrap();

    let e1 = next_event(&mut w).await;
    assert_eq!(e1.kind, EventKind::Put);
    assert_eq!(
        (e1.kv.create_revision, e1.kv.mod_revision, e1.kv.version),
        (r1, r1, 1)
    );
    assert_eq!(e1.kv.value, b("v1"));
    assert_eq!(e1.prev, None);

    let e2 = next_event(&mut w).await;
    assert_eq!(e2.kind, EventKind::Put);
    assert_eq!(
        (e2.kv.mod_revision, e2.kv.version, e2.kv.value.clone()),
        (r2, 2, b("v2"))
    );
    let prev = e2.prev.expect("update carries the previous value");
    assert_eq!((prev.mod_revision, prev.value), (r1, b("v1")));

    let e3 = next_event(&mut w).await;
    assert_eq!(e3.kind, EventKind::Delete);
    assert_eq!(
        (e3.kv.key.as_str(), e3.kv.mod_revision),
        ("/registry/w/a", r3)
    );
    let prev = e3.prev.expect("delete carries the deleted value");
    assert_eq!((prev.mod_revision, prev.value), (r2, b("v2")));
    no_event(&mut w).await;
}

pub async fn watch_from_a_past_revision_replays_history_then_follows_live(s: S) {
    let r1 = s.create("/registry/h/x", b("1"), None).await.unwrap();
    let r2 = s.update("/registry/h/x", b("2"), r1, None).await.unwrap();
    let r3 = s.create("/registry/h/y", b("1"), None).await.unwrap();
    let mut w = s.watch("/registry/h/", r1).await.unwrap();
    let revs: Vec<i64> = [
        next_event(&mut w).await,
        next_event(&mut w).await,
        next_event(&mut w).await,
    ]
    .iter()
    .map(|e| e.kv.mod_revision)
    .collect();
    assert_eq!(revs, [r1, r2, r3]);
    let r4 = s.put("/registry/h/z", b("1"), None).await.unwrap();
    assert_eq!(next_event(&mut w).await.kv.mod_revision, r4);

    let mut from_r2 = s.watch("/registry/h/", r2).await.unwrap();
    let e = next_event(&mut from_r2).await;
    assert_eq!(e.kv.mod_revision, r2);
    assert_eq!(e.prev.expect("previous value").value, b("1"));
}

pub async fn watch_sees_only_its_prefix(s: S) {
    let mut w = s.watch("/registry/a/", 0).await.unwrap();
    s.create("/registry/a/1", b("v"), None).await.unwrap();
    s.create("/registry/ab", b("v"), None).await.unwrap();
    s.create("/registry/b/1", b("v"), None).await.unwrap();
    s.create("/registry/a/2", b("v"), None).await.unwrap();
    assert_eq!(next_event(&mut w).await.kv.key, "/registry/a/1");
    assert_eq!(next_event(&mut w).await.kv.key, "/registry/a/2");
    no_event(&mut w).await;
}

pub async fn watch_from_now_skips_earlier_writes(s: S) {
    s.create("/registry/n/1", b("v"), None).await.unwrap();
    let mut w = s.watch("/registry/n/", 0).await.unwrap();
    s.create("/registry/n/2", b("v"), None).await.unwrap();
    assert_eq!(next_event(&mut w).await.kv.key, "/registry/n/2");
}

pub async fn dropping_a_watch_stream_cancels_it(s: S) {
    for _ in 0..20 {
        drop(s.watch("/registry/", 0).await.unwrap());
    }
    let mut kept = s.watch("/registry/", 0).await.unwrap();
    for i in 0..50 {
        s.create(&format!("/registry/c/{i}"), b("v"), None)
            .await
            .unwrap();
    }
    for i in 0..50 {
        assert_eq!(
            next_event(&mut kept).await.kv.key,
            format!("/registry/c/{i}")
        );
    }
}

pub async fn compaction_discards_old_revisions_and_keeps_the_current_state(s: S) {
    let r1 = s.create("/registry/c/a", b("1"), None).await.unwrap();
    let r2 = s.update("/registry/c/a", b("2"), r1, None).await.unwrap();
    let r3 = s.update("/registry/c/a", b("3"), r2, None).await.unwrap();
    let r4 = s.create("/registry/c/b", b("1"), None).await.unwrap();
    let r5 = s.delete("/registry/c/b", r4).await.unwrap().0;
    s.compact(r3).await.unwrap();
    assert_eq!(s.compacted_revision().await.unwrap(), r3);
    let at = |revision| ListRequest {
        revision,
        ..list_req("/registry/c/")
    };
    let err = s.list(at(r2)).await.unwrap_err();
    assert!(
        matches!(err, Error::Compacted { requested, .. } if requested == r2),
        "{err}"
    );
    let l = s.list(at(r3)).await.unwrap();
    assert_eq!(keys(&l.kvs), ["/registry/c/a"]);
    assert_eq!(l.kvs[0].value, b("3"));
    let l = s.list(at(r4)).await.unwrap();
    assert_eq!(keys(&l.kvs), ["/registry/c/a", "/registry/c/b"]);
    let l = s.list(at(r5)).await.unwrap();
    assert_eq!(keys(&l.kvs), ["/registry/c/a"]);
    let kv = get(&s, "/registry/c/a").await;
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r1, r3, 3)
    );
    // History from the compacted revision on is still there.
    let mut w = s.watch("/registry/c/", r3).await.unwrap();
    let revs = [
        next_event(&mut w).await.kv.mod_revision,
        next_event(&mut w).await.kv.mod_revision,
        next_event(&mut w).await.kv.mod_revision,
    ];
    assert_eq!(revs, [r3, r4, r5]);
    // Writes go on after compaction.
    let r6 = s.update("/registry/c/a", b("4"), r3, None).await.unwrap();
    assert_eq!(get(&s, "/registry/c/a").await.version, 4);
    assert_eq!(next_event(&mut w).await.kv.mod_revision, r6);
}

pub async fn watch_from_a_compacted_revision_fails(s: S) {
    let r1 = s.create("/registry/wc/a", b("1"), None).await.unwrap();
    let r2 = s.update("/registry/wc/a", b("2"), r1, None).await.unwrap();
    s.update("/registry/wc/a", b("3"), r2, None).await.unwrap();
    s.compact(r2 + 1).await.unwrap();
    assert_watch_compacted(&s, "/registry/wc/", r1).await;
}

pub async fn compacting_an_older_revision_again_is_a_no_op(s: S) {
    let r1 = s.create("/registry/k", b("1"), None).await.unwrap();
    let r2 = s.update("/registry/k", b("2"), r1, None).await.unwrap();
    let r3 = s.update("/registry/k", b("3"), r2, None).await.unwrap();
    s.compact(r3).await.unwrap();
    s.compact(r3).await.unwrap();
    s.compact(r2).await.unwrap();
    assert_eq!(s.compacted_revision().await.unwrap(), r3);
    assert_eq!(get(&s, "/registry/k").await.value, b("3"));
}

pub async fn compacting_a_future_revision_fails(s: S) {
    s.create("/registry/k", b("1"), None).await.unwrap();
    let current = s.current_revision().await.unwrap();
    let err = s.compact(current + 100).await.unwrap_err();
    assert!(matches!(err, Error::FutureRevision { .. }), "{err}");
}

pub async fn keys_with_a_ttl_expire_as_a_delete_event(s: S) {
    let mut w = s.watch("/registry/events/", 0).await.unwrap();
    let rev = s
        .create(
            "/registry/events/e1",
            b("event"),
            Some(Duration::from_secs(2)),
        )
        .await
        .unwrap();
    s.create("/registry/events/keep", b("event"), None)
        .await
        .unwrap();
    assert!(s.get("/registry/events/e1").await.unwrap().is_some());
    assert_eq!(next_event(&mut w).await.kv.mod_revision, rev);
    assert_eq!(next_event(&mut w).await.kv.key, "/registry/events/keep");
    let expired = tokio::time::timeout(Duration::from_secs(15), w.recv())
        .await
        .expect("the key expires within 15 s")
        .expect("watch open")
        .expect("an event");
    assert_eq!(expired.kind, EventKind::Delete);
    assert_eq!(expired.kv.key, "/registry/events/e1");
    assert_eq!(expired.prev.expect("the expired value").value, b("event"));
    assert!(s.get("/registry/events/e1").await.unwrap().is_none());
    assert!(s.get("/registry/events/keep").await.unwrap().is_some());
}

pub async fn concurrent_writers_get_distinct_consecutive_revisions(s: S) {
    let r0 = s.current_revision().await.unwrap();
    let (writers, each) = (32, 25);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let s = s.clone();
        tasks.spawn(async move {
            let mut revs = Vec::new();
            for i in 0..each {
                let key = format!("/registry/cc/{w}/{i}");
                revs.push(s.create(&key, b("v"), None).await.unwrap());
            }
            revs
        });
    }
    let mut revs: Vec<i64> = tasks.join_all().await.into_iter().flatten().collect();
    revs.sort_unstable();
    let expected: Vec<i64> = (r0 + 1..=r0 + writers * each).collect();
    assert_eq!(revs, expected);
    assert_eq!(s.current_revision().await.unwrap(), r0 + writers * each);
    let listed = s.list(list_req("/registry/cc/")).await.unwrap();
    assert_eq!(listed.kvs.len() as i64, writers * each);
}

pub async fn a_slow_watcher_does_not_block_writers_and_misses_nothing(s: S) {
    let mut slow = s.watch("/registry/slow/", 0).await.unwrap();
    let total = 3_000;
    let writes = async {
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..10 {
            let s = s.clone();
            tasks.spawn(async move {
                for i in (w..total).step_by(10) {
                    s.create(&format!("/registry/slow/{i:05}"), b("v"), None)
                        .await
                        .unwrap();
                }
            });
        }
        tasks.join_all().await;
    };
    tokio::time::timeout(Duration::from_secs(120), writes)
        .await
        .expect("writers finish while the watcher reads nothing");
    let mut seen = std::collections::BTreeSet::new();
    let mut last = 0;
    for _ in 0..total {
        let e = next_event(&mut slow).await;
        assert!(e.kv.mod_revision > last, "events in revision order");
        last = e.kv.mod_revision;
        seen.insert(e.kv.key);
    }
    assert_eq!(seen.len(), total);
    no_event(&mut slow).await;
}

pub async fn the_automatic_compactor_keeps_one_interval_of_history(s: S) {
    let r1 = s.create("/registry/ac", b("1"), None).await.unwrap();
    let r2 = s.update("/registry/ac", b("2"), r1, None).await.unwrap();
    let _compactor = Compactor::spawn(s.clone(), Duration::from_millis(200), None);
    // The first tick only records the revision; a later one compacts to it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while s.compacted_revision().await.unwrap() < r2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no compaction within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let compacted = s.compacted_revision().await.unwrap();
    assert!(compacted <= s.current_revision().await.unwrap());
    let err = s
        .list(ListRequest {
            revision: r1,
            ..list_req("/registry/")
        })
        .await
        .unwrap_err();
    assert!(err.is_compacted(), "{err}");
    assert_eq!(get(&s, "/registry/ac").await.value, b("2"));
}

pub async fn the_automatic_compactor_stops_at_its_floor(s: S) {
    let r1 = s.create("/registry/af", b("1"), None).await.unwrap();
    let r2 = s.update("/registry/af", b("2"), r1, None).await.unwrap();
    let r3 = s.update("/registry/af", b("3"), r2, None).await.unwrap();
    // A reader that has consumed everything up to r1 only: history after it must stay.
    let _compactor = Compactor::spawn(
        s.clone(),
        Duration::from_millis(100),
        Some(Box::new(move || r1)),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while s.compacted_revision().await.unwrap() < r1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no compaction within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Several more ticks: still no further than the floor.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(s.compacted_revision().await.unwrap(), r1);
    let mut w = s.watch("/registry/af", r1 + 1).await.unwrap();
    assert_eq!(next_event(&mut w).await.kv.mod_revision, r2);
    assert_eq!(next_event(&mut w).await.kv.mod_revision, r3);
}

pub async fn a_list_larger_than_4_mib_is_returned_whole(s: S) {
    // gRPC clients refuse answers over 4 MiB unless told otherwise.
    let value: Bytes = vec![b'v'; 512 * 1024].into();
    for i in 0..12 {
        s.create(&format!("/registry/big/{i:02}"), value.clone(), None)
            .await
            .unwrap();
    }
    let listed = s.list(list_req("/registry/big/")).await.unwrap();
    assert_eq!(listed.kvs.len(), 12);
    assert!(listed.kvs.iter().all(|kv| kv.value == value));
    let mut w = s.watch("/registry/big/", 1).await.unwrap();
    for _ in 0..12 {
        assert_eq!(next_event(&mut w).await.kv.value.len(), value.len());
    }
}
