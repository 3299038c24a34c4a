//! One conformance suite for every store backend: each case in `cases` runs
//! unchanged against the embedded SQLite store and against a real etcd.

mod cases;

use rkube_store::Store;
use rkube_store::etcd::{EtcdConfig, EtcdStore};
use rkube_store::sqlite::{SqliteOptions, SqliteStore};
use rkube_testkit::etcd::EtcdProcess;
use std::sync::Arc;
use std::time::Duration;

/// A store under test and whatever must live as long as it.
pub struct Harness {
    /// The store.
    pub store: Arc<dyn Store>,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn sqlite() -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions {
        expiry_interval: Duration::from_millis(100),
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(dir.path(), options).expect("open sqlite store");
    Harness {
        store: Arc::new(store),
        _keep: Box::new(dir),
    }
}

async fn etcd() -> Harness {
    let etcd = EtcdProcess::start().await.expect("start etcd");
    let store = EtcdStore::connect(EtcdConfig {
        endpoints: vec![etcd.endpoint()],
        key_prefix: "/rkube-conformance".to_owned(),
        tls: None,
    })
    .await
    .expect("connect to etcd");
    Harness {
        store: Arc::new(store),
        _keep: Box::new(etcd),
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let harness = super::sqlite().await;
                    super::cases::$case(harness.store.clone()).await;
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let harness = super::etcd().await;
                    super::cases::$case(harness.store.clone()).await;
                }
            )*
        }
    };
}

conformance! {
    revision_grows_by_one_with_every_write,
    create_fails_when_the_key_exists,
    update_bumps_version_and_keeps_create_revision,
    update_with_a_stale_revision_conflicts_and_reports_the_current_value,
    update_and_delete_of_a_missing_key_are_not_found,
    put_creates_and_overwrites_unconditionally,
    delete_is_guarded_by_the_mod_revision,
    delete_any_returns_the_previous_value_or_none,
    recreating_a_deleted_key_starts_a_new_incarnation,
    values_round_trip_byte_for_byte,
    list_returns_only_the_prefix_in_key_order,
    list_paginates_with_limit_and_continue_at_one_revision,
    list_at_a_past_revision_sees_the_state_then,
    list_at_a_future_revision_fails,
    watch_delivers_every_later_change_in_order_with_the_previous_value,
    watch_from_a_past_revision_replays_history_then_follows_live,
    watch_sees_only_its_prefix,
    watch_from_now_skips_earlier_writes,
    dropping_a_watch_stream_cancels_it,
    compaction_discards_old_revisions_and_keeps_the_current_state,
    watch_from_a_compacted_revision_fails,
    compacting_an_older_revision_again_is_a_no_op,
    compacting_a_future_revision_fails,
    keys_with_a_ttl_expire_as_a_delete_event,
    concurrent_writers_get_distinct_consecutive_revisions,
    a_slow_watcher_does_not_block_writers_and_misses_nothing,
    the_automatic_compactor_keeps_one_interval_of_history,
    the_automatic_compactor_stops_at_its_floor,
    a_list_larger_than_4_mib_is_returned_whole,
}
