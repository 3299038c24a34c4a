//! Integration tests of the Job, TTL-after-finished and CronJob controllers: `rkube server`
//! in-process (API, scheduler, controllers) with simulated nodes whose pods exit as their
//! `sim.rkube.io/exit-*` annotations say, driven through kube-rs.

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::Duration;

mod common;
use common::{SimCluster, eventually, merge};

/// How long a condition may take to come true.
const WAIT: Duration = Duration::from_secs(120);

/// Every controller and `nodes` simulated nodes.
async fn start(nodes: u32) -> SimCluster {
    common::sim_cluster(nodes, |_| {}).await
}

/// A Job whose pods exit with `code` after `after` seconds (never, without `after`).
fn job(name: &str, after: Option<&str>, code: i32, spec: serde_json::Value) -> Job {
    let mut annotations = json!({"sim.rkube.io/exit-code": code.to_string()});
    if let Some(after) = after {
        annotations["sim.rkube.io/exit-after"] = json!(after);
    }
    let mut j = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": {
            "metadata": {"annotations": annotations},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "c", "image": "busybox",
                                     "resources": {"requests": {"cpu": "10m"}}}]}}},
    });
    merge(&mut j["spec"], spec);
    serde_json::from_value(j).unwrap()
}

fn condition<'a>(
    job: &'a Job,
    type_: &str,
) -> Option<&'a k8s_openapi::api::batch::v1::JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

async fn job_pods(client: &kube::Client, name: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::default_namespaced(client.clone());
    api.list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={name}")))
        .await
        .unwrap()
        .items
}

/// Waits until the Job has the terminal condition `type_`.
async fn finished(client: &kube::Client, name: &str, type_: &str) -> Job {
    let api: Api<Job> = Api::default_namespaced(client.clone());
    eventually(&format!("job {name} {type_}"), || async {
        let j = api.get(name).await.ok()?;
        condition(&j, type_).is_some().then_some(j)
    })
    .await
}

async fn event_reasons(client: &kube::Client, name: &str) -> Vec<String> {
    let api: Api<Event> = Api::default_namespaced(client.clone());
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .filter_map(|e| e.reason)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_complete_fail_hit_deadlines_and_expire() {
    let cluster = start(2).await;
    let client = cluster.client.clone();
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let create = |j: Job| {
        let jobs = jobs.clone();
        async move { jobs.create(&PostParams::default(), &j).await.unwrap() }
    };
    create(job(
        "three",
        Some("1"),
        0,
        json!({"completions": 3, "parallelism": 2}),
    ))
    .await;
    create(job(
        "indexed",
        Some("1"),
        0,
        json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed"}),
    ))
    .await;
    create(job("failing", Some("1"), 1, json!({"backoffLimit": 1}))).await;
    create(job(
        "deadline",
        None,
        0,
        json!({"activeDeadlineSeconds": 3}),
    ))
    .await;
    create(job(
        "ttl",
        Some("1"),
        0,
        json!({"ttlSecondsAfterFinished": 0}),
    ))
    .await;

    // Completions and parallelism.
    let three = finished(&client, "three", "Complete").await;
    let status = three.status.clone().unwrap();
    assert_eq!(status.succeeded, Some(3));
    assert!(status.start_time.is_some() && status.completion_time.is_some());
    assert!(condition(&three, "SuccessCriteriaMet").is_some());
    let pods = job_pods(&client, "three").await;
    assert_eq!(pods.len(), 3, "one pod per completion, none extra");
    for pod in &pods {
        assert!(
            !pod.metadata
                .finalizers
                .iter()
                .flatten()
                .any(|f| f == "batch.kubernetes.io/job-tracking"),
            "counted pods lose the tracking finalizer"
        );
        assert_eq!(pod.metadata.labels.as_ref().unwrap()["job-name"], "three");
    }
    let reasons = eventually("the Completed event", || async {
        let r = event_reasons(&client, "three").await;
        r.iter().any(|r| r == "Completed").then_some(r)
    })
    .await;
    assert!(reasons.iter().any(|r| r == "SuccessfulCreate"));

    // Indexed: each index once, with its hostname and variable.
    let indexed = finished(&client, "indexed", "Complete").await;
    let status = indexed.status.unwrap();
    assert_eq!(status.completed_indexes.as_deref(), Some("0-2"));
    assert_eq!(status.succeeded, Some(3));
    let mut indexes: Vec<String> = job_pods(&client, "indexed")
        .await
        .iter()
        .map(|p| {
            let index = p.metadata.annotations.as_ref().unwrap()
                ["batch.kubernetes.io/job-completion-index"]
                .clone();
            let spec = p.spec.as_ref().unwrap();
            assert_eq!(
                spec.hostname.as_deref(),
                Some(format!("indexed-{index}").as_str())
            );
            assert!(
                spec.containers[0]
                    .env
                    .iter()
                    .flatten()
                    .any(|e| e.name == "JOB_COMPLETION_INDEX")
            );
            index
        })
        .collect();
    indexes.sort();
    assert_eq!(indexes, ["0", "1", "2"]);

    // Pod failures beyond the backoff limit.
    let failing = finished(&client, "failing", "Failed").await;
    let failed = condition(&failing, "Failed").unwrap();
    assert_eq!(failed.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(failing.status.as_ref().unwrap().failed, Some(2));
    assert_eq!(job_pods(&client, "failing").await.len(), 2);

    // The active deadline: failed, its pod stopped.
    let deadline = finished(&client, "deadline", "Failed").await;
    assert_eq!(
        condition(&deadline, "Failed").unwrap().reason.as_deref(),
        Some("DeadlineExceeded")
    );
    assert_eq!(deadline.status.as_ref().unwrap().active, None);
    eventually("the deadline job's pod stopped", || async {
        let pods = job_pods(&client, "deadline").await;
        pods.iter()
            .all(|p| {
                matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded" | "Failed")
                )
            })
            .then_some(())
    })
    .await;

    // ttlSecondsAfterFinished: 0 deletes the Job once it finished.
    eventually("the ttl job deleted", || async {
        matches!(jobs.get("ttl").await, Err(kube::Error::Api(s)) if s.code == 404).then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_jobs_stop_their_pods_and_resume() {
    let cluster = start(1).await;
    let client = cluster.client.clone();
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let j = job(
        "pausable",
        Some("4"),
        0,
        json!({"completions": 2, "parallelism": 2}),
    );
    jobs.create(&PostParams::default(), &j).await.unwrap();
    eventually("two active pods", || async {
        let j = jobs.get("pausable").await.ok()?;
        (j.status?.active == Some(2)).then_some(())
    })
    .await;
    let suspend = |on: bool| json!({"spec": {"suspend": on}});
    jobs.patch(
        "pausable",
        &PatchParams::default(),
        &Patch::Merge(&suspend(true)),
    )
    .await
    .unwrap();
    eventually("suspended with no pods left", || async {
        let j = jobs.get("pausable").await.ok()?;
        let suspended = condition(&j, "Suspended").is_some();
        let running = job_pods(&client, "pausable")
            .await
            .into_iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        (suspended && running == 0 && j.status?.active.unwrap_or(0) == 0).then_some(())
    })
    .await;
    jobs.patch(
        "pausable",
        &PatchParams::default(),
        &Patch::Merge(&suspend(false)),
    )
    .await
    .unwrap();
    let done = finished(&client, "pausable", "Complete").await;
    assert_eq!(done.status.as_ref().unwrap().succeeded, Some(2));
    let suspended = done
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Suspended")
        .unwrap();
    assert_eq!(
        (suspended.status.as_str(), suspended.reason.as_deref()),
        ("False", Some("JobResumed"))
    );
    let reasons = event_reasons(&client, "pausable").await;
    assert!(reasons.iter().any(|r| r == "Suspended"));
    cluster.stop().await;
}

fn cronjob(name: &str, spec: serde_json::Value) -> CronJob {
    let mut c = json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {"schedule": "* * * * *", "timeZone": "UTC",
                 "jobTemplate": {"metadata": {"labels": {"cron": name}},
                                 "spec": {"template": {"spec": {"restartPolicy": "Never",
                     "containers": [{"name": "c", "image": "busybox",
                                     "resources": {"requests": {"cpu": "10m"}}}]}}}}},
    });
    merge(&mut c["spec"], spec);
    serde_json::from_value(c).unwrap()
}

async fn owned_jobs(client: &kube::Client, uid: &str) -> Vec<Job> {
    let api: Api<Job> = Api::default_namespaced(client.clone());
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|j| {
            j.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|r| r.uid == uid)
        })
        .collect()
}

/// Makes the CronJob's last scheduled time five minutes ago, so the current minute is due.
async fn missed_a_run(api: &Api<CronJob>, name: &str) {
    let past = rkube_api::time::now()
        .checked_sub(k8s_openapi::jiff::SignedDuration::from_mins(5))
        .unwrap();
    let status = json!({"status": {"lastScheduleTime": past.to_string()}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cronjobs_create_due_jobs_respect_suspend_and_trim_history() {
    let cluster = start(1).await;
    let client = cluster.client.clone();
    let cronjobs: Api<CronJob> = Api::default_namespaced(client.clone());
    let jobs: Api<Job> = Api::default_namespaced(client.clone());

    // A run is due: a Job named by its minute, annotated, owned, listed as active.
    let due = cronjobs
        .create(&PostParams::default(), &cronjob("due", json!({})))
        .await
        .unwrap();
    missed_a_run(&cronjobs, "due").await;
    let uid = due.metadata.uid.clone().unwrap();
    let created = eventually("a job for the due run", || async {
        owned_jobs(&client, &uid).await.into_iter().next()
    })
    .await;
    let name = created.metadata.name.clone().unwrap();
    let minutes: i64 = name.strip_prefix("due-").unwrap().parse().unwrap();
    let stamp = &created.metadata.annotations.as_ref().unwrap()["batch.kubernetes.io/cronjob-scheduled-timestamp"];
    let scheduled: k8s_openapi::jiff::Timestamp = stamp.parse().unwrap();
    assert_eq!(scheduled.as_second() / 60, minutes);
    assert_eq!(created.metadata.labels.as_ref().unwrap()["cron"], "due");
    eventually("the due job in status.active", || async {
        let c = cronjobs.get("due").await.ok()?;
        let s = c.status?;
        (s.active?
            .iter()
            .any(|r| r.name.as_deref() == Some(name.as_str()))
            && s.last_schedule_time.map(|t| t.0) == Some(scheduled))
        .then_some(())
    })
    .await;

    // Suspended: nothing is created even though a run is due.
    let sleepy = cronjobs
        .create(
            &PostParams::default(),
            &cronjob("sleepy", json!({"suspend": true})),
        )
        .await
        .unwrap();
    missed_a_run(&cronjobs, "sleepy").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        owned_jobs(&client, sleepy.metadata.uid.as_deref().unwrap())
            .await
            .is_empty()
    );

    // History limits: finished Jobs beyond them are deleted, oldest first.
    let hist = cronjobs
        .create(
            &PostParams::default(),
            &cronjob(
                "hist",
                json!({"suspend": true, "successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 1}),
            ),
        )
        .await
        .unwrap();
    let owner = json!([{"apiVersion": "batch/v1", "kind": "CronJob", "name": "hist",
        "uid": hist.metadata.uid, "controller": true, "blockOwnerDeletion": true}]);
    for (i, outcome) in ["Complete", "Complete", "Complete", "Failed", "Failed"]
        .iter()
        .enumerate()
    {
        let name = format!("hist-{i}");
        let mut j = job(&name, None, 0, json!({"suspend": true}));
        j.metadata.owner_references = serde_json::from_value(owner.clone()).unwrap();
        jobs.create(&PostParams::default(), &j).await.unwrap();
        let first = if *outcome == "Complete" {
            "SuccessCriteriaMet"
        } else {
            "FailureTarget"
        };
        let at = format!("2026-01-01T00:0{i}:00Z");
        let mut status = json!({"status": {"startTime": at, "conditions": [
            {"type": first, "status": "True", "lastTransitionTime": at},
            {"type": outcome, "status": "True", "lastTransitionTime": at}]}});
        if *outcome == "Complete" {
            status["status"]["completionTime"] = json!(at);
        }
        eventually("the job status written", || async {
            jobs.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                .await
                .ok()
        })
        .await;
    }
    let hist_uid = hist.metadata.uid.clone().unwrap();
    eventually("the history trimmed to the newest of each", || async {
        let mut names: Vec<String> = owned_jobs(&client, &hist_uid)
            .await
            .into_iter()
            .filter(|j| j.metadata.deletion_timestamp.is_none())
            .filter_map(|j| j.metadata.name)
            .collect();
        names.sort();
        (names == ["hist-2", "hist-4"]).then_some(())
    })
    .await;
    cluster.stop().await;
}
