use super::*;
use serde_json::json;

fn job(spec: serde_json::Value, status: serde_json::Value) -> Job {
    let mut spec = spec;
    spec["template"] = json!({"spec": {"restartPolicy": "Never", "containers": []}});
    serde_json::from_value(json!({"metadata": {"name": "j", "namespace": "ns"},
        "spec": spec, "status": status}))
    .unwrap()
}

fn pod(name: &str, phase: &str, extra: serde_json::Value) -> Arc<Pod> {
    let mut p = json!({"metadata": {"name": name, "uid": name,
        "creationTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": phase}});
    if let Some(meta) = extra.get("metadata") {
        for (k, v) in meta.as_object().unwrap() {
            p["metadata"][k] = v.clone();
        }
    }
    if let Some(status) = extra.get("status") {
        for (k, v) in status.as_object().unwrap() {
            p["status"][k] = v.clone();
        }
    }
    Arc::new(serde_json::from_value(p).unwrap())
}

fn indexed_pod(name: &str, index: i32) -> Arc<Pod> {
    pod(
        name,
        "Running",
        json!({"metadata": {"annotations": {"batch.kubernetes.io/job-completion-index": index.to_string()}}}),
    )
}

fn now() -> Timestamp {
    "2026-01-01T00:10:00Z".parse().unwrap()
}

fn status_of(job: &Job) -> JobStatus {
    job.status.clone().unwrap_or_default()
}

fn has(plan: &Plan, type_: &str) -> bool {
    plan.status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == type_ && c.status == "True")
}

#[test]
fn creates_up_to_parallelism_and_no_more_than_completions_left() {
    let j = job(json!({"completions": 3, "parallelism": 2}), json!({}));
    let p = plan(&j, status_of(&j), &[], now(), true);
    assert_eq!(p.create, [None, None]);
    assert_eq!(p.status.active, Some(2));
    assert!(p.status.start_time.is_some());

    let j = job(
        json!({"completions": 3, "parallelism": 2}),
        json!({"succeeded": 2}),
    );
    let running = [pod("a", "Running", json!({}))];
    let p = plan(&j, status_of(&j), &running, now(), true);
    assert!(p.create.is_empty() && p.delete.is_empty());

    // Without met expectations nothing is created.
    let j = job(json!({"completions": 3, "parallelism": 2}), json!({}));
    let p = plan(&j, status_of(&j), &[], now(), false);
    assert!(p.create.is_empty());
}

#[test]
fn completion_is_success_criteria_then_complete_once_no_pod_runs() {
    let j = job(
        json!({"completions": 2, "parallelism": 2}),
        json!({"succeeded": 2}),
    );
    let running = [pod("a", "Running", json!({}))];
    let p = plan(&j, status_of(&j), &running, now(), true);
    assert!(has(&p, "SuccessCriteriaMet"));
    assert!(!has(&p, "Complete"));
    assert_eq!(p.delete.len(), 1);

    let j = job(json!({"completions": 2}), json!({"succeeded": 2}));
    let p = plan(&j, status_of(&j), &[], now(), true);
    assert!(has(&p, "SuccessCriteriaMet") && has(&p, "Complete"));
    assert!(p.status.completion_time.is_some());
    assert_eq!(p.events[0].1, "Completed");
    let complete = p
        .status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Complete")
        .unwrap();
    assert_eq!(complete.reason.as_deref(), Some("CompletionsReached"));
}

#[test]
fn too_many_failures_fail_the_job_with_backoff_limit_exceeded() {
    let j = job(
        json!({"completions": 1, "backoffLimit": 1}),
        json!({"failed": 2}),
    );
    let p = plan(&j, status_of(&j), &[], now(), true);
    assert!(has(&p, "FailureTarget") && has(&p, "Failed"));
    let failed = p
        .status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Failed")
        .unwrap();
    assert_eq!(failed.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(
        (p.events[0].0, p.events[0].1),
        (EventType::Warning, "BackoffLimitExceeded")
    );
    assert!(p.create.is_empty());

    // At the limit the pod is replaced, after a backoff from the last failure.
    let j = job(
        json!({"completions": 1, "backoffLimit": 1}),
        json!({"failed": 1}),
    );
    let failed_pod = pod(
        "a",
        "Failed",
        json!({"status": {"containerStatuses": [{"name": "c", "image": "i", "imageID": "",
            "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:09:55Z"}}}]}}),
    );
    let p = plan(
        &j,
        status_of(&j),
        std::slice::from_ref(&failed_pod),
        now(),
        true,
    );
    assert!(!has(&p, "FailureTarget"));
    assert!(p.create.is_empty());
    assert_eq!(p.requeue, Some(Duration::from_secs(5)));
    let later: Timestamp = "2026-01-01T00:10:06Z".parse().unwrap();
    let p = plan(&j, status_of(&j), &[failed_pod], later, true);
    assert_eq!(p.create, [None]);
}

#[test]
fn the_active_deadline_fails_the_job_and_deletes_its_pods() {
    let j = job(
        json!({"completions": 1, "activeDeadlineSeconds": 60}),
        json!({"startTime": "2026-01-01T00:00:00Z"}),
    );
    let running = [pod("a", "Running", json!({}))];
    let p = plan(&j, status_of(&j), &running, now(), true);
    assert!(has(&p, "FailureTarget") && !has(&p, "Failed"));
    assert_eq!(p.delete.len(), 1);
    assert_eq!(p.status.terminating, Some(1));

    let j = job(
        json!({"completions": 1, "activeDeadlineSeconds": 3600}),
        json!({"startTime": "2026-01-01T00:00:00Z"}),
    );
    let p = plan(&j, status_of(&j), &running, now(), true);
    assert!(!has(&p, "FailureTarget"));
    assert_eq!(p.requeue, Some(Duration::from_millis(3000 * 1000 + 100)));
}

#[test]
fn suspending_deletes_pods_and_resuming_restarts_the_clock() {
    let j = job(json!({"completions": 2, "suspend": true}), json!({}));
    let running = [pod("a", "Running", json!({}))];
    let p = plan(&j, status_of(&j), &running, now(), true);
    assert!(has(&p, "Suspended"));
    assert_eq!(p.delete.len(), 1);
    assert!(p.create.is_empty());
    assert!(p.status.start_time.is_none());
    assert_eq!(p.events[0].1, "Suspended");

    let suspended = p.status.clone();
    let j = job(json!({"completions": 2, "suspend": false}), json!({}));
    let p = plan(&j, suspended, &[], now(), true);
    assert!(!has(&p, "Suspended"));
    assert_eq!(p.events[0].1, "Resumed");
    assert_eq!(p.status.start_time, Some(Time(now())));
    assert_eq!(p.create.len(), 1);
}

#[test]
fn indexed_jobs_create_missing_indexes_and_delete_duplicates() {
    let j = job(
        json!({"completions": 4, "parallelism": 3, "completionMode": "Indexed"}),
        json!({"completedIndexes": "0"}),
    );
    let pods = [
        indexed_pod("a", 1),
        indexed_pod("b", 1),
        indexed_pod("c", 9),
        indexed_pod("d", 0),
    ];
    let p = plan(&j, status_of(&j), &pods, now(), true);
    let deleted: Vec<_> = p
        .delete
        .iter()
        .map(|p| p.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(deleted, ["b", "c", "d"]);
    assert_eq!(p.create, [Some(2), Some(3)]);

    let j = job(
        json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed"}),
        json!({"completedIndexes": "0-2", "succeeded": 3}),
    );
    let p = plan(&j, status_of(&j), &[], now(), true);
    assert!(has(&p, "Complete"));
}

#[test]
fn on_failure_restarts_count_toward_the_backoff_limit() {
    let mut j = job(json!({"completions": 1, "backoffLimit": 2}), json!({}));
    j.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .restart_policy = Some("OnFailure".to_owned());
    let restarting = pod(
        "a",
        "Running",
        json!({"status": {"containerStatuses": [{"name": "c", "image": "i", "imageID": "",
            "ready": true, "restartCount": 2}]}}),
    );
    let p = plan(&j, status_of(&j), &[restarting], now(), true);
    assert!(has(&p, "FailureTarget"));
}
