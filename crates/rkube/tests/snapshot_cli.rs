//! `rkube snapshot` as a user runs it: the real binary against a store in
//! use, and against a real etcd.

use bytes::Bytes;
use rkube_store::sqlite::{SqliteOptions, SqliteStore};
use rkube_store::{ListRequest, Store};
use rkube_testkit::etcd::EtcdProcess;
use std::path::Path;
use std::process::{Command, Output};

fn rkube(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rkube"))
        .args(args)
        .output()
        .expect("run rkube")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn save_while_in_use_then_restore_into_a_new_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, restored) = (tmp.path().join("data"), tmp.path().join("restored"));
    let file = tmp.path().join("backup.db");
    // The store stays open (locked) as a running server would hold it.
    let store = SqliteStore::open(&data.join("db"), SqliteOptions::default()).unwrap();
    for i in 0..50 {
        store
            .create(
                &format!("/registry/configmaps/default/cm{i}"),
                Bytes::from("v"),
                None,
            )
            .await
            .unwrap();
    }
    let out = rkube(&["snapshot", "save", path(&file), "--data-dir", path(&data)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Restoring over the data dir in use is refused with a clear message.
    let out = rkube(&[
        "snapshot",
        "restore",
        path(&file),
        "--data-dir",
        path(&data),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("in use by another rkube process"),
        "{stderr}"
    );

    let out = rkube(&[
        "snapshot",
        "restore",
        path(&file),
        "--data-dir",
        path(&restored),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = SqliteStore::open(&restored.join("db"), SqliteOptions::default()).unwrap();
    let all = ListRequest {
        prefix: "/registry/".to_owned(),
        ..ListRequest::default()
    };
    assert_eq!(
        copy.list(all.clone()).await.unwrap(),
        store.list(all).await.unwrap()
    );
}

#[tokio::test]
async fn a_corrupt_snapshot_is_refused_with_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("garbage.db");
    std::fs::write(&file, vec![7u8; 4096]).unwrap();
    let target = tmp.path().join("data");
    let out = rkube(&[
        "snapshot",
        "restore",
        path(&file),
        "--data-dir",
        path(&target),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(path(&file)), "{stderr}");
    assert!(!target.join("db").join("state.db").exists());
}

#[tokio::test]
async fn save_from_etcd_uses_etcds_snapshot_api() {
    let etcd = EtcdProcess::start().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("etcd.snapshot");
    let store = rkube_store::etcd::EtcdStore::connect(rkube_store::etcd::EtcdConfig {
        endpoints: vec![etcd.endpoint()],
        key_prefix: String::new(),
        tls: None,
    })
    .await
    .unwrap();
    for i in 0..20 {
        store
            .create(
                &format!("/registry/secrets/default/s{i}"),
                Bytes::from("v"),
                None,
            )
            .await
            .unwrap();
    }
    let endpoint = etcd.endpoint();
    let out = rkube(&[
        "snapshot",
        "save",
        path(&file),
        "--datastore-endpoint",
        &endpoint,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // etcd's own tool reads it as a valid snapshot holding our keys.
    let status = Command::new("etcdctl")
        .args(["snapshot", "status", path(&file), "-w", "json"])
        .env("ETCDCTL_API", "3")
        .output()
        .expect("run etcdctl (Debian package etcd-client)");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let json = String::from_utf8_lossy(&status.stdout);
    let total: u64 = json
        .split("\"totalKey\":")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no totalKey in {json}"));
    assert!(total >= 20, "{json}");
}
