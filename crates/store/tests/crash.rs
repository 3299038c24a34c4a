//! Durability across processes: a child process writes under load and
//! prints each write once it is acknowledged; the parent kills it with
//! SIGKILL (or works beside it) and checks the store.

use bytes::Bytes;
use rkube_store::sqlite::{self, SqliteOptions, SqliteStore};
use rkube_store::{Error, ListRequest, Store};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

const CHILD_DIR: &str = "RKUBE_CRASH_CHILD_DIR";

/// Not a test: the writer process the tests below start and kill.
#[test]
#[ignore = "run as a child process by the tests in this file"]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let store = SqliteStore::open(Path::new(&dir), SqliteOptions::default()).unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..16 {
            let store = store.clone();
            tasks.spawn(async move {
                for i in 0.. {
                    let key = format!("/registry/crash/{w:02}/{i:08}");
                    let rev = store
                        .create(&key, Bytes::from(key.clone()), None)
                        .await
                        .unwrap();
                    // Written to fd 1 directly, past the test harness's capture.
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {key} {rev}").unwrap();
                    out.flush().unwrap();
                }
            });
        }
        tasks.join_all().await;
    });
}

fn start_child(dir: &Path) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash_child_writer",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdout)
}

/// A whole acknowledgement line: a line cut by the kill is none.
fn parse_ack(line: &str) -> Option<(String, i64)> {
    let (key, rev) = line
        .strip_prefix("ack ")?
        .strip_suffix('\n')?
        .split_once(' ')?;
    Some((key.to_owned(), rev.parse().ok()?))
}

/// Reads acknowledgements until `count` have arrived.
fn read_acks(out: &mut BufReader<ChildStdout>, acks: &mut BTreeMap<String, i64>, count: usize) {
    let mut line = String::new();
    while acks.len() < count {
        line.clear();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "the writer process ended early");
        if let Some((key, rev)) = parse_ack(&line) {
            acks.insert(key, rev);
        }
    }
}

fn kill_9(mut child: Child) {
    child.kill().unwrap(); // SIGKILL, by PID
    child.wait().unwrap();
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (child, mut out) = start_child(dir.path());
    let mut acks = BTreeMap::new();
    read_acks(&mut out, &mut acks, 3_000);
    kill_9(child);
    // Whatever else was in the pipe was acknowledged before the kill too.
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    acks.extend(rest.split_inclusive('\n').filter_map(parse_ack));

    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap();
    let max_ack = acks.values().copied().max().unwrap();
    assert!(store.current_revision().await.unwrap() >= max_ack);
    for (key, rev) in &acks {
        let kv = store
            .get(key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged key {key} (revision {rev}) was lost"));
        assert_eq!(kv.mod_revision, *rev);
        assert_eq!(kv.value, Bytes::from(key.clone()));
    }
}

#[tokio::test]
async fn a_store_in_use_by_another_process_is_locked_but_can_be_snapshotted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let (child, mut out) = start_child(&dir);
    let mut acks = BTreeMap::new();
    read_acks(&mut out, &mut acks, 200);

    let err = SqliteStore::open(&dir, SqliteOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");

    // An online snapshot while the other process keeps writing.
    let file = tmp.path().join("snapshot.db");
    sqlite::save_snapshot(&dir, &file).unwrap();
    read_acks(&mut out, &mut acks, 400);
    kill_9(child);

    let restored = tmp.path().join("restored");
    sqlite::restore_snapshot(&file, &restored).unwrap();
    let store = SqliteStore::open(&restored, SqliteOptions::default()).unwrap();
    let at = store.current_revision().await.unwrap();
    let all = store
        .list(ListRequest {
            prefix: "/registry/".to_owned(),
            ..ListRequest::default()
        })
        .await
        .unwrap();
    // Every write was a create: consistent at one revision means exactly
    // the first `at` writes are there.
    assert!(
        at >= 200,
        "the snapshot holds the writes acknowledged before it"
    );
    assert_eq!(all.kvs.len() as i64, at);
    let mut revs: Vec<i64> = all.kvs.iter().map(|kv| kv.mod_revision).collect();
    revs.sort_unstable();
    assert_eq!(revs, (1..=at).collect::<Vec<_>>());
}
