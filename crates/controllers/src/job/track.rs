//! Counting finished pods exactly once, as upstream's finalizer tracking does: every pod a Job
//! creates carries the `batch.kubernetes.io/job-tracking` finalizer; a finished pod's uid is
//! first written to `status.uncountedTerminatedPods`, then its finalizer is removed, then the
//! uid moves into the `succeeded`/`failed` counters. A crash between the steps loses nothing and
//! counts nothing twice.

use crate::pods;
use k8s_openapi::api::batch::v1::{Job, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

/// The finalizer on every pod a Job creates until the pod is counted.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// The annotation and label with an Indexed Job pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// Whether the Job's completion mode is `Indexed`.
pub fn is_indexed(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed")
}

/// The pod's completion index (annotation first, then label), if it has a valid one.
pub fn completion_index(pod: &Pod) -> Option<i32> {
    let meta = &pod.metadata;
    let from = |m: Option<&std::collections::BTreeMap<String, String>>| {
        m.and_then(|m| m.get(COMPLETION_INDEX))
            .and_then(|v| v.parse::<i32>().ok())
            .filter(|i| *i >= 0)
    };
    from(meta.annotations.as_ref()).or_else(|| from(meta.labels.as_ref()))
}

/// Whether the pod still carries the tracking finalizer.
pub fn has_tracking_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .as_deref()
        .is_some_and(|f| f.iter().any(|f| f == TRACKING_FINALIZER))
}

/// Whether the pod counts as succeeded.
pub fn succeeded(pod: &Pod) -> bool {
    pods::phase(pod) == "Succeeded"
}

/// Whether the pod counts as failed: phase `Failed`, or being deleted before it succeeded
/// (upstream's rule for `podReplacementPolicy: TerminatingOrFailed`; with `Failed` only the
/// phase counts).
pub fn failed(job: &Job, pod: &Pod) -> bool {
    if pods::phase(pod) == "Failed" {
        return true;
    }
    let only_failed = job
        .spec
        .as_ref()
        .and_then(|s| s.pod_replacement_policy.as_deref())
        == Some("Failed");
    !only_failed && pod.metadata.deletion_timestamp.is_some() && !succeeded(pod)
}

/// Parses `status.completedIndexes` (`"1,3-5,7"`).
pub fn parse_indexes(s: &str) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<i32>(), b.parse::<i32>()) {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(v) = part.parse() {
                    out.insert(v);
                }
            }
        }
    }
    out
}

/// Formats indexes as `status.completedIndexes` holds them: sorted, each run of consecutive
/// indexes as `a-b`.
pub fn format_indexes(indexes: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

fn completions(job: &Job) -> Option<i32> {
    job.spec.as_ref().and_then(|s| s.completions)
}

/// Records newly finished pods in `status.uncountedTerminatedPods` (and, for an Indexed Job,
/// their indexes in `completedIndexes`); returns the finished pods whose tracking finalizer is
/// to be removed now. A succeeded pod whose index is invalid or already completed is untracked
/// without being counted.
pub fn record_finished(job: &Job, status: &mut JobStatus, owned: &[Arc<Pod>]) -> Vec<Arc<Pod>> {
    let indexed = is_indexed(job);
    let mut completed = parse_indexes(status.completed_indexes.as_deref().unwrap_or(""));
    let uncounted = status
        .uncounted_terminated_pods
        .get_or_insert_with(UncountedTerminatedPods::default);
    let mut ok: Vec<String> = uncounted.succeeded.take().unwrap_or_default();
    let mut failed_uids: Vec<String> = uncounted.failed.take().unwrap_or_default();
    let mut untrack = Vec::new();
    for pod in owned.iter().filter(|p| has_tracking_finalizer(p)) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let known = ok.contains(&uid) || failed_uids.contains(&uid);
        if succeeded(pod) {
            if !known {
                if indexed {
                    let valid = completion_index(pod)
                        .filter(|i| completions(job).is_none_or(|c| *i < c))
                        .filter(|i| !completed.contains(i));
                    if let Some(i) = valid {
                        completed.insert(i);
                        ok.push(uid);
                    }
                } else {
                    ok.push(uid);
                }
            }
            untrack.push(pod.clone());
        } else if failed(job, pod) {
            if !known {
                failed_uids.push(uid);
            }
            untrack.push(pod.clone());
        }
    }
    uncounted.succeeded = Some(ok);
    uncounted.failed = Some(failed_uids);
    if indexed {
        status.completed_indexes = Some(format_indexes(&completed));
    }
    untrack
}

/// Moves the uncounted uids whose pods no longer carry the finalizer (`still_tracked` holds the
/// uids that do) into the `succeeded` and `failed` counters.
pub fn flush(status: &mut JobStatus, still_tracked: &HashSet<String>) {
    let uncounted = status
        .uncounted_terminated_pods
        .get_or_insert_with(UncountedTerminatedPods::default);
    let moved = |list: &mut Option<Vec<String>>| {
        let all = list.take().unwrap_or_default();
        let (keep, done): (Vec<String>, Vec<String>) =
            all.into_iter().partition(|u| still_tracked.contains(u));
        *list = Some(keep);
        done.len() as i32
    };
    let newly_succeeded = moved(&mut uncounted.succeeded);
    let newly_failed = moved(&mut uncounted.failed);
    if newly_succeeded > 0 {
        status.succeeded = Some(status.succeeded.unwrap_or(0) + newly_succeeded);
    }
    if newly_failed > 0 {
        status.failed = Some(status.failed.unwrap_or(0) + newly_failed);
    }
}

/// Succeeded and failed pods so far, counted or not yet.
pub fn totals(status: &JobStatus) -> (i32, i32) {
    let uncounted = status.uncounted_terminated_pods.as_ref();
    let len = |l: Option<&Vec<String>>| l.map_or(0, |l| l.len() as i32);
    (
        status.succeeded.unwrap_or(0) + len(uncounted.and_then(|u| u.succeeded.as_ref())),
        status.failed.unwrap_or(0) + len(uncounted.and_then(|u| u.failed.as_ref())),
    )
}

/// The status with empty lists and zero counters as upstream's JSON omits them (so that a
/// status read back compares equal to the one written).
pub fn normalize(mut s: JobStatus) -> JobStatus {
    let nonzero = |v: Option<i32>| v.filter(|n| *n != 0);
    s.active = nonzero(s.active);
    s.succeeded = nonzero(s.succeeded);
    s.failed = nonzero(s.failed);
    let u = s.uncounted_terminated_pods.take().unwrap_or_default();
    let nonempty = |l: Option<Vec<String>>| l.filter(|l| !l.is_empty());
    s.uncounted_terminated_pods = Some(UncountedTerminatedPods {
        succeeded: nonempty(u.succeeded),
        failed: nonempty(u.failed),
    });
    s.completed_indexes = s.completed_indexes.filter(|c| !c.is_empty());
    s.conditions = s.conditions.filter(|c| !c.is_empty());
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(v: serde_json::Value) -> Job {
        serde_json::from_value(v).unwrap()
    }

    fn pod(uid: &str, phase: &str, index: Option<i32>, finalizer: bool) -> Arc<Pod> {
        let mut p = json!({"metadata": {"name": uid, "uid": uid}, "status": {"phase": phase}});
        if finalizer {
            p["metadata"]["finalizers"] = json!([TRACKING_FINALIZER]);
        }
        if let Some(i) = index {
            p["metadata"]["annotations"] = json!({COMPLETION_INDEX: i.to_string()});
        }
        Arc::new(serde_json::from_value(p).unwrap())
    }

    #[test]
    fn index_sets_round_trip() {
        let s = parse_indexes("0,2-4,7");
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), [0, 2, 3, 4, 7]);
        assert_eq!(format_indexes(&s), "0,2-4,7");
        assert_eq!(format_indexes(&parse_indexes("1,0,2")), "0-2");
        assert_eq!(format_indexes(&BTreeSet::new()), "");
    }

    #[test]
    fn finished_pods_are_counted_once_after_their_finalizer_is_removed() {
        let j = job(json!({"spec": {"template": {}}}));
        let pods = [
            pod("a", "Succeeded", None, true),
            pod("b", "Failed", None, true),
            pod("c", "Running", None, true),
            pod("d", "Succeeded", None, false),
        ];
        let mut status = JobStatus::default();
        let untrack = record_finished(&j, &mut status, &pods);
        assert_eq!(untrack.len(), 2);
        assert_eq!(totals(&status), (1, 1));
        // Recording again changes nothing.
        let again = record_finished(&j, &mut status, &pods);
        assert_eq!(again.len(), 2);
        assert_eq!(totals(&status), (1, 1));
        // "b" kept its finalizer (its removal failed): still uncounted.
        flush(&mut status, &HashSet::from(["b".to_owned()]));
        assert_eq!((status.succeeded, status.failed), (Some(1), None));
        assert_eq!(totals(&status), (1, 1));
        flush(&mut status, &HashSet::new());
        assert_eq!((status.succeeded, status.failed), (Some(1), Some(1)));
        assert_eq!(totals(&status), (1, 1));
    }

    #[test]
    fn indexed_pods_complete_each_index_once() {
        let j =
            job(json!({"spec": {"completionMode": "Indexed", "completions": 3, "template": {}}}));
        let pods = [
            pod("a", "Succeeded", Some(0), true),
            pod("b", "Succeeded", Some(0), true),
            pod("c", "Succeeded", Some(5), true),
            pod("d", "Succeeded", Some(2), true),
        ];
        let mut status = JobStatus::default();
        let untrack = record_finished(&j, &mut status, &pods);
        assert_eq!(untrack.len(), 4);
        assert_eq!(status.completed_indexes.as_deref(), Some("0,2"));
        assert_eq!(totals(&status), (2, 0));
    }

    #[test]
    fn deleted_pods_count_as_failed_unless_only_failed_ones_are_replaced() {
        let deleting: Pod = serde_json::from_value(json!({"metadata": {"name": "p",
            "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running"}}))
        .unwrap();
        let j = job(json!({"spec": {"template": {}}}));
        assert!(failed(&j, &deleting));
        let j = job(json!({"spec": {"podReplacementPolicy": "Failed", "template": {}}}));
        assert!(!failed(&j, &deleting));
    }
}
