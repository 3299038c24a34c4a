//! Behaviour of the embedded store beyond the shared conformance suite:
//! persistence across reopen, the data-directory lock, corrupt files,
//! group commit and snapshots.

use bytes::Bytes;
use rkube_store::sqlite::{self, DB_FILE, SqliteOptions, SqliteStore};
use rkube_store::{Error, ListRequest, Store};
use std::path::Path;

fn open(dir: &Path) -> rkube_store::Result<SqliteStore> {
    SqliteStore::open(dir, SqliteOptions::default())
}

fn all() -> ListRequest {
    ListRequest {
        prefix: "/registry/".to_owned(),
        ..ListRequest::default()
    }
}

#[tokio::test]
async fn reopening_keeps_data_revision_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let (r1, r2);
    {
        let s = open(dir.path()).unwrap();
        r1 = s
            .create("/registry/a", Bytes::from("1"), None)
            .await
            .unwrap();
        r2 = s
            .update("/registry/a", Bytes::from("2"), r1, None)
            .await
            .unwrap();
        s.compact(r2).await.unwrap();
    }
    let s = open(dir.path()).unwrap();
    assert_eq!(s.current_revision().await.unwrap(), r2);
    assert_eq!(s.compacted_revision().await.unwrap(), r2);
    let kv = s.get("/registry/a").await.unwrap().unwrap();
    assert_eq!((kv.value, kv.version), (Bytes::from("2"), 2));
    assert_eq!(
        s.create("/registry/b", Bytes::new(), None).await.unwrap(),
        r2 + 1
    );
}

#[tokio::test]
async fn the_revision_never_goes_back_after_compacting_a_trailing_delete() {
    let dir = tempfile::tempdir().unwrap();
    let last;
    {
        let s = open(dir.path()).unwrap();
        let r1 = s
            .create("/registry/a", Bytes::from("1"), None)
            .await
            .unwrap();
        let (r2, _) = s.delete("/registry/a", r1).await.unwrap();
        s.create("/registry/b", Bytes::from("1"), None)
            .await
            .unwrap();
        let (r4, _) = s.delete_any("/registry/b").await.unwrap().unwrap();
        s.compact(r4).await.unwrap();
        last = r4;
        assert!(r2 < r4);
    }
    let s = open(dir.path()).unwrap();
    assert_eq!(s.current_revision().await.unwrap(), last);
    assert_eq!(
        s.create("/registry/c", Bytes::new(), None).await.unwrap(),
        last + 1
    );
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path()).unwrap();
    let err = open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("in use"), "{message}");
    drop(first);
    // Closing the store releases the directory.
    open(dir.path()).unwrap();
}

/// Writes `bytes` as the database file and checks that opening fails with
/// an error naming the file, and that the file is left as it was.
async fn assert_rejected_untouched(bytes: &[u8], expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DB_FILE);
    std::fs::write(&db, bytes).unwrap();
    let err = open(dir.path()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Corrupt { .. }), "{message}");
    assert!(message.contains(&db.display().to_string()), "{message}");
    assert!(message.contains(expect), "{message}");
    assert_eq!(std::fs::read(&db).unwrap(), bytes, "the file was modified");
}

#[tokio::test]
async fn a_garbage_database_is_reported_by_name_and_left_untouched() {
    assert_rejected_untouched(&[0x5a; 10_000], "corrupt").await;
}

#[tokio::test]
async fn a_foreign_sqlite_database_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&other).unwrap();
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi');")
            .unwrap();
    }
    let bytes = std::fs::read(&other).unwrap();
    assert_rejected_untouched(&bytes, "not an rkube store").await;
}

#[tokio::test]
async fn a_truncated_database_is_reported_by_name_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let s = open(tmp.path()).unwrap();
        for i in 0..300 {
            let value = Bytes::from(vec![b'v'; 4096]);
            s.create(&format!("/registry/k{i}"), value, None)
                .await
                .unwrap();
        }
    }
    let mut bytes = std::fs::read(tmp.path().join(DB_FILE)).unwrap();
    assert!(
        bytes.len() > 1_000_000,
        "the store was checkpointed on close"
    );
    bytes.truncate(bytes.len() / 2);
    assert_rejected_untouched(&bytes, "corrupt").await;
}

#[tokio::test]
async fn concurrent_writes_are_group_committed() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..64 {
        let s = s.clone();
        tasks.spawn(async move {
            for i in 0..20 {
                s.create(&format!("/registry/g/{w}/{i}"), Bytes::new(), None)
                    .await
                    .unwrap();
            }
        });
    }
    tasks.join_all().await;
    let stats = s.write_stats();
    assert_eq!(stats.writes, 64 * 20);
    assert!(
        stats.commits < stats.writes / 2,
        "64 concurrent writers should share commits: {stats:?}"
    );
}

/// While writers are concurrent, the writer waits `commit_delay` for company before a
/// commit: two writes 20 ms apart then share one commit, where a writer that commits at
/// once would make two.
#[tokio::test]
async fn while_writers_are_concurrent_a_commit_waits_for_company() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        commit_delay: std::time::Duration::from_millis(300),
        ..SqliteOptions::default()
    };
    let s = SqliteStore::open(dir.path(), options).unwrap();
    // A burst: a batch of several requests marks the writers concurrent.
    let mut burst = tokio::task::JoinSet::new();
    for w in 0..32 {
        let s = s.clone();
        burst.spawn(async move {
            s.create(&format!("/registry/b/{w}"), Bytes::new(), None)
                .await
        });
    }
    for created in burst.join_all().await {
        created.unwrap();
    }
    let before = s.write_stats();
    assert!(
        before.commits < before.writes,
        "the burst shared commits: {before:?}"
    );
    let first = {
        let s = s.clone();
        tokio::spawn(async move { s.create("/registry/late/1", Bytes::new(), None).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let second = s
        .create("/registry/late/2", Bytes::new(), None)
        .await
        .unwrap();
    let first = first.await.unwrap().unwrap();
    assert_eq!(second, first + 1, "consecutive revisions of one batch");
    let after = s.write_stats();
    assert_eq!(after.writes - before.writes, 2);
    assert_eq!(after.commits - before.commits, 1, "{before:?} → {after:?}");
}

#[tokio::test]
async fn a_snapshot_restores_to_the_same_state() {
    let tmp = tempfile::tempdir().unwrap();
    let (live, restored) = (tmp.path().join("live"), tmp.path().join("restored"));
    let file = tmp.path().join("backup.db");
    let s = open(&live).unwrap();
    let r1 = s
        .create("/registry/a", Bytes::from("1"), None)
        .await
        .unwrap();
    s.update("/registry/a", Bytes::from("2"), r1, None)
        .await
        .unwrap();
    s.create("/registry/b", Bytes::from("1"), None)
        .await
        .unwrap();
    s.snapshot(&file).await.unwrap();
    let expected = s.list(all()).await.unwrap();
    // Writes after the snapshot are not in it.
    s.create("/registry/c", Bytes::from("1"), None)
        .await
        .unwrap();

    sqlite::restore_snapshot(&file, &restored).unwrap();
    let r = open(&restored).unwrap();
    assert_eq!(r.list(all()).await.unwrap(), expected);
    assert_eq!(r.current_revision().await.unwrap(), expected.revision);
    // History came along: a watch can replay from the first revision.
    let mut w = r.watch("/registry/", r1).await.unwrap();
    assert_eq!(w.recv().await.unwrap().unwrap().kv.mod_revision, r1);
}

#[tokio::test]
async fn restore_refuses_a_directory_in_use_or_holding_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let file = tmp.path().join("backup.db");
    let s = open(&a).unwrap();
    s.create("/registry/a", Bytes::from("1"), None)
        .await
        .unwrap();
    sqlite::save_snapshot(&a, &file).unwrap();
    // In use by a running store.
    let err = sqlite::restore_snapshot(&file, &a).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    drop(s);
    // Holding a database.
    let err = sqlite::restore_snapshot(&file, &a).unwrap_err();
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    // An empty directory is fine.
    sqlite::restore_snapshot(&file, &b).unwrap();
}

#[tokio::test]
async fn restore_rejects_a_corrupt_snapshot_and_leaves_it_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("backup.db");
    std::fs::write(&file, b"not a database at all").unwrap();
    let err = sqlite::restore_snapshot(&file, &tmp.path().join("dir")).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains(&file.display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"not a database at all");
    assert!(!tmp.path().join("dir").join(DB_FILE).exists());
}
