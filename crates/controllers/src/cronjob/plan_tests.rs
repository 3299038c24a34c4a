use super::*;
use serde_json::json;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn cronjob(spec: serde_json::Value, status: serde_json::Value) -> CronJob {
    let mut spec = spec;
    spec["jobTemplate"] = json!({"metadata": {"labels": {"app": "x"}}, "spec": {"template": {}}});
    if spec.get("timeZone").is_none() {
        spec["timeZone"] = json!("UTC");
    }
    serde_json::from_value(json!({
        "metadata": {"name": "cj", "namespace": "ns", "uid": "cj-uid",
                     "creationTimestamp": "2026-03-01T10:00:30Z"},
        "spec": spec, "status": status}))
    .unwrap()
}

fn job(name: &str, condition: Option<&str>, start: &str) -> Arc<Job> {
    let mut j = json!({"metadata": {"name": name, "uid": name, "namespace": "ns",
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "cj",
                             "uid": "cj-uid", "controller": true}]},
        "status": {"startTime": start}});
    if let Some(c) = condition {
        j["status"]["conditions"] = json!([{"type": c, "status": "True"}]);
        j["status"]["completionTime"] = json!(start);
    }
    Arc::new(serde_json::from_value(j).unwrap())
}

#[test]
fn a_due_schedule_creates_a_job_named_by_its_minute() {
    let cj = cronjob(json!({"schedule": "*/5 * * * *"}), json!({}));
    let p = plan(&cj, &[], &HashSet::new(), ts("2026-03-01T10:05:10Z"));
    assert_eq!(p.create, Some(ts("2026-03-01T10:05:00Z")));
    assert_eq!(p.requeue, Some(Duration::from_millis(290_100)));
    assert_eq!(job_name("cj", ts("2026-03-01T10:05:00Z")), "cj-29539325");
    // Not yet due.
    let p = plan(&cj, &[], &HashSet::new(), ts("2026-03-01T10:04:59Z"));
    assert_eq!(p.create, None);
    // Already run for that time.
    let cj = cronjob(
        json!({"schedule": "*/5 * * * *"}),
        json!({"lastScheduleTime": "2026-03-01T10:05:00Z"}),
    );
    let p = plan(&cj, &[], &HashSet::new(), ts("2026-03-01T10:05:10Z"));
    assert_eq!(p.create, None);
}

#[test]
fn suspended_cronjobs_create_nothing_and_do_not_requeue() {
    let cj = cronjob(json!({"schedule": "* * * * *", "suspend": true}), json!({}));
    let p = plan(&cj, &[], &HashSet::new(), ts("2026-03-01T10:05:10Z"));
    assert_eq!((p.create, p.requeue), (None, None));
}

#[test]
fn concurrency_policies() {
    let running = job("cj-1", None, "2026-03-01T10:01:00Z");
    let now = ts("2026-03-01T10:05:10Z");
    let cj = cronjob(
        json!({"schedule": "* * * * *", "concurrencyPolicy": "Forbid"}),
        json!({}),
    );
    let p = plan(&cj, std::slice::from_ref(&running), &HashSet::new(), now);
    assert_eq!(p.create, None);
    assert_eq!(p.events.last().unwrap().1, "JobAlreadyActive");
    // The unlisted running job was put in the active list.
    assert_eq!(p.status.active.as_ref().unwrap().len(), 1);

    let cj = cronjob(
        json!({"schedule": "* * * * *", "concurrencyPolicy": "Replace"}),
        json!({}),
    );
    let p = plan(&cj, std::slice::from_ref(&running), &HashSet::new(), now);
    assert_eq!(p.create, Some(ts("2026-03-01T10:05:00Z")));
    assert_eq!(p.replace.len(), 1);

    let cj = cronjob(json!({"schedule": "* * * * *"}), json!({}));
    let p = plan(&cj, &[running], &HashSet::new(), now);
    assert!(p.create.is_some() && p.replace.is_empty());
}

#[test]
fn finished_jobs_leave_the_active_list_and_old_ones_are_deleted() {
    let active =
        json!({"active": [{"name": "cj-1", "uid": "cj-1"}, {"name": "cj-gone", "uid": "cj-gone"}]});
    let cj = cronjob(json!({"schedule": "0 0 1 1 *"}), active);
    let jobs = [
        job("cj-1", Some("Complete"), "2026-03-01T10:01:00Z"),
        job("cj-2", Some("Complete"), "2026-03-01T10:02:00Z"),
        job("cj-3", Some("Complete"), "2026-03-01T10:03:00Z"),
        job("cj-4", Some("Complete"), "2026-03-01T10:04:00Z"),
        job("cj-5", Some("Failed"), "2026-03-01T10:05:00Z"),
        job("cj-6", Some("Failed"), "2026-03-01T10:06:00Z"),
    ];
    let gone = HashSet::from(["cj-gone".to_owned()]);
    let p = plan(&cj, &jobs, &gone, ts("2026-03-01T10:10:00Z"));
    assert_eq!(p.status.active, None);
    assert_eq!(p.cleanup, ["cj-1", "cj-5"]);
    assert_eq!(
        p.status.last_successful_time.map(|t| t.0),
        Some(ts("2026-03-01T10:04:00Z"))
    );
    let reasons: Vec<_> = p.events.iter().map(|e| e.1).collect();
    assert_eq!(reasons, ["MissingJob", "SawCompletedJob"]);
}

#[test]
fn starting_deadline_limits_how_late_a_job_may_start() {
    let cj = cronjob(
        json!({"schedule": "0 * * * *", "startingDeadlineSeconds": 30}),
        json!({"lastScheduleTime": "2026-03-01T09:00:00Z"}),
    );
    // 10:00 was missed by more than 30 s and nothing later is due.
    let p = plan(&cj, &[], &HashSet::new(), ts("2026-03-01T10:00:45Z"));
    assert_eq!(p.create, None);
    let p = plan(&cj, &[], &HashSet::new(), ts("2026-03-01T10:00:20Z"));
    assert_eq!(p.create, Some(ts("2026-03-01T10:00:00Z")));
}

#[test]
fn too_many_missed_times_warn_but_still_run_the_latest() {
    let cj = cronjob(
        json!({"schedule": "* * * * *"}),
        json!({"lastScheduleTime": "2026-02-01T00:00:00Z"}),
    );
    let p = plan(&cj, &[], &HashSet::new(), ts("2026-03-01T10:05:10Z"));
    assert_eq!(p.create, Some(ts("2026-03-01T10:05:00Z")));
    assert_eq!(p.events[0].1, "TooManyMissedTimes");
}

#[test]
fn bad_time_zones_and_schedules_are_reported() {
    let cj = cronjob(
        json!({"schedule": "* * * * *", "timeZone": "Mars/Olympus"}),
        json!({}),
    );
    let p = plan(&cj, &[], &HashSet::new(), ts("2026-03-01T10:05:10Z"));
    assert_eq!((p.create, p.events[0].1), (None, "UnknownTimeZone"));
    let cj = cronjob(json!({"schedule": "61 * * * *"}), json!({}));
    let p = plan(&cj, &[], &HashSet::new(), ts("2026-03-01T10:05:10Z"));
    assert_eq!((p.create, p.events[0].1), (None, "InvalidSchedule"));
}

#[test]
fn jobs_carry_their_scheduled_time_in_the_cronjob_zone() {
    let tz = TimeZone::get("Europe/Berlin").unwrap();
    assert_eq!(
        rfc3339(ts("2026-03-01T10:05:00Z"), &tz),
        "2026-03-01T11:05:00+01:00"
    );
    assert_eq!(
        rfc3339(ts("2026-03-01T10:05:00Z"), &TimeZone::UTC),
        "2026-03-01T10:05:00Z"
    );
    let cj = cronjob(json!({"schedule": "* * * * *"}), json!({}));
    let job = crate::cronjob::job_for(&cj, ts("2026-03-01T10:05:00Z"), &TimeZone::UTC);
    assert_eq!(job.metadata.name.as_deref(), Some("cj-29539325"));
    assert_eq!(
        job.metadata.annotations.unwrap()[SCHEDULED_TIMESTAMP],
        "2026-03-01T10:05:00Z"
    );
    let owner = &job.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("CronJob", Some(true))
    );
    assert_eq!(job.metadata.labels.unwrap()["app"], "x");
}
