//! The watch caches' tests: labels shared between versions, the feed, windows, pages.

use super::*;
use rkube_store::sqlite::{SqliteOptions, SqliteStore};

fn pod(labels: &str, phase: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"web","namespace":"default","labels":{labels}}},"status":{{"phase":"{phase}"}}}}"#
    ))
}

/// A store in a temporary directory and caches fed from it.
async fn started() -> (tempfile::TempDir, Arc<dyn Store>, Arc<Caches>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
    let caches = Caches::start(store.clone(), Window::fixed(16))
        .await
        .unwrap();
    (dir, store, caches)
}

#[tokio::test]
async fn an_event_shares_the_earlier_version_and_its_unchanged_labels() {
    let (_dir, store, caches) = started().await;
    let info = BUILTIN.iter().find(|i| i.plural == "pods").unwrap();
    let cache = caches.get(info).unwrap();
    let key = "/registry/pods/default/web";
    let (sub, _) = cache.subscribe(key, 0, true, &caches).unwrap();
    let mut live = sub.live;

    let rv = store
        .create(key, pod(r#"{"app":"web"}"#, "Pending"), None)
        .await
        .unwrap();
    let created = live.recv().await.unwrap();
    let rv = store
        .update(key, pod(r#"{"app":"web"}"#, "Running"), rv, None)
        .await
        .unwrap();
    let running = live.recv().await.unwrap();
    assert_eq!(running.change, Change::Modified);
    // The state before the change is the cache's entry, not a second decoded copy.
    assert!(Arc::ptr_eq(running.prev.as_ref().unwrap(), &created.entry));
    assert!(Arc::ptr_eq(&running.entry.labels, &created.entry.labels));

    store
        .update(key, pod(r#"{"app":"api"}"#, "Running"), rv, None)
        .await
        .unwrap();
    let relabelled = live.recv().await.unwrap();
    assert_eq!(
        relabelled.entry.labels.get("app").map(String::as_str),
        Some("api")
    );
    assert_eq!(
        running.entry.labels.get("app").map(String::as_str),
        Some("web")
    );
}

#[tokio::test]
async fn the_feed_keeps_up_while_the_request_runtime_is_busy() {
    let (_dir, store, caches) = started().await;
    let key = "/registry/pods/default/web";
    let rv = store
        .create(key, pod(r#"{"app":"web"}"#, "Pending"), None)
        .await
        .unwrap();
    // This test's runtime has one thread, and it is now held without yielding, as busy
    // request handlers hold the server's: the feed must still apply the write.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while caches.revision() < rv {
        assert!(
            std::time::Instant::now() < deadline,
            "the watch cache never saw revision {rv} while the runtime was busy"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let info = BUILTIN.iter().find(|i| i.plural == "pods").unwrap();
    assert_eq!(caches.get(info).unwrap().get(key).unwrap().rv, rv);
}

#[tokio::test]
async fn the_feed_ends_when_the_caches_are_dropped() {
    let (_dir, store, caches) = started().await;
    drop(caches);
    // The feed held the store; once it has ended, this is the only reference left.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while Arc::strong_count(&store) > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the feed still holds the store"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// A later page can come from the cache only while nothing of the resource changed
/// since the first page's revision, the cache has seen it, and its window reaches it.
#[tokio::test]
async fn later_pages_come_from_the_cache_only_while_the_resource_is_unchanged() {
    let (_dir, store, caches) = started().await;
    let info = BUILTIN.iter().find(|i| i.plural == "pods").unwrap();
    let mut rv = 0;
    for name in ["p1", "p2", "p3"] {
        rv = store
            .create(
                &format!("/registry/pods/default/{name}"),
                pod("{}", "Pending"),
                None,
            )
            .await
            .unwrap();
    }
    let names = |entries: Option<Vec<Arc<Entry>>>| {
        entries.map(|e| e.iter().map(|e| e.key.clone()).collect::<Vec<_>>())
    };
    let cache = caches.get(info).unwrap();
    let (prefix, first_page_end) = ("/registry/pods/default/", "/registry/pods/default/p1");
    assert!(
        cache
            .unchanged_since(prefix, first_page_end, rv + 1, &caches)
            .is_none(),
        "a revision the cache has not seen"
    );
    assert!(caches.wait_for(rv, Duration::from_secs(30)).await);
    assert_eq!(
        names(cache.unchanged_since(prefix, first_page_end, rv, &caches)),
        Some(vec![
            "/registry/pods/default/p2".to_owned(),
            "/registry/pods/default/p3".to_owned()
        ])
    );
    let changed = store
        .update("/registry/pods/default/p3", pod("{}", "Running"), rv, None)
        .await
        .unwrap();
    assert!(caches.wait_for(changed, Duration::from_secs(30)).await);
    assert!(
        cache
            .unchanged_since(prefix, first_page_end, rv, &caches)
            .is_none(),
        "p3 changed after the first page's revision"
    );
    assert_eq!(
        names(cache.unchanged_since(prefix, first_page_end, changed, &caches)).map(|n| n.len()),
        Some(2)
    );
}

/// How many events a cache keeps after `n` changes under `window`.
fn kept_after(window: Window, n: i64) -> usize {
    let info = BUILTIN.iter().find(|i| i.plural == "pods").unwrap();
    let cache = ResourceCache::new(info, window);
    let progress = watch::Sender::new(0);
    for rv in 1..=n {
        let key = format!("/registry/pods/default/p{rv}");
        let entry = Entry::from_stored(key, info, &pod("{}", "Pending"), rv).unwrap();
        let event = CacheEvent {
            change: Change::Added,
            entry: Arc::new(entry),
            prev: None,
        };
        cache.apply(event, &progress);
    }
    let state = cache.read();
    assert_eq!(
        state.window_start,
        state.events.front().map_or(0, |(_, e)| e.entry.rv) - 1,
        "a watch resumes from just before the oldest event kept"
    );
    state.events.len()
}

#[test]
fn fresh_events_are_kept_beyond_the_window_up_to_its_limit() {
    assert_eq!(kept_after(Window::fixed(3), 10), 3);
    let fresh = Window {
        events: 3,
        fresh: Duration::from_secs(3600),
        max_events: 6,
    };
    assert_eq!(kept_after(fresh, 5), 5);
    assert_eq!(kept_after(fresh, 10), 6);
    let stale = Window {
        fresh: Duration::ZERO,
        ..fresh
    };
    assert_eq!(kept_after(stale, 10), 3);
}
