//! One pod's life on a simulated node, as a state machine without IO: [`PodRecord::next_step`]
//! says what happens next and when; [`PodRecord::take_step`] moves the record on and returns
//! what to write to the API.

use crate::pod::{self, Ending, MIN_RESTART_INTERVAL, PodShape, Run};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Where a pod is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Bound, not started yet.
    Pending,
    /// Containers running.
    Running,
    /// `Succeeded` or `Failed`; kept until deleted.
    Done,
    /// Being deleted (`gracePeriodSeconds=0`).
    Deleting,
}

/// The next thing that happens to a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Start the containers: `Pending` → `Running`.
    Start,
    /// The containers exit as the annotations ask.
    Exit,
    /// `activeDeadlineSeconds` passed.
    Deadline,
    /// Deleted while running: stop the containers, then delete.
    Kill,
    /// Delete with `gracePeriodSeconds=0`.
    Delete,
}

/// What a step writes to the API.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    /// A strategic merge patch for `pods/status`.
    pub status: Option<Value>,
    /// Then delete the pod with `gracePeriodSeconds=0`.
    pub delete: bool,
    /// The pod no longer holds its IP.
    pub release_ip: bool,
}

/// What the simulator keeps of one pod on one of its nodes.
#[derive(Debug)]
pub struct PodRecord {
    /// `metadata.namespace`.
    pub namespace: Box<str>,
    /// `metadata.name`.
    pub name: Box<str>,
    /// The index of its node.
    pub node: u32,
    /// What statuses need of its spec.
    pub shape: PodShape,
    /// Its address from the node's pod range (`None` before start, for host-network pods,
    /// and once released).
    pub ip: Option<Ipv4Addr>,
    /// Where it is.
    pub stage: Stage,
    /// When the simulator first saw it bound (the start delay counts from here).
    pub first_seen: Timestamp,
    /// `status.startTime`.
    pub start_time: Option<Timestamp>,
    /// When the current containers started.
    pub running_since: Option<Timestamp>,
    /// Container restarts so far.
    pub restarts: i32,
    /// When a deleted pod is stopped (set once its `deletionTimestamp` is seen).
    pub kill_at: Option<Timestamp>,
}

/// `at + d`, saturating.
pub fn plus(at: Timestamp, d: Duration) -> Timestamp {
    at.saturating_add(d).unwrap_or(Timestamp::MAX)
}

impl PodRecord {
    /// A record for a pod first seen at `now` on node `node`; a pod the simulator ran before a
    /// restart is taken over where it is (its IP is then in `ip`, to be reserved).
    pub fn adopt(pod: &Pod, shape: PodShape, node: u32, now: Timestamp) -> PodRecord {
        let status = pod.status.as_ref();
        let first = status.and_then(|s| s.container_statuses.as_ref()?.first());
        let mut record = PodRecord {
            namespace: pod.metadata.namespace.as_deref().unwrap_or_default().into(),
            name: pod.metadata.name.as_deref().unwrap_or_default().into(),
            node,
            shape,
            ip: None,
            stage: Stage::Pending,
            first_seen: now,
            start_time: None,
            running_since: None,
            restarts: 0,
            kill_at: None,
        };
        match status.and_then(|s| s.phase.as_deref()) {
            Some("Running") => {
                record.stage = Stage::Running;
                record.start_time = status.and_then(|s| s.start_time.as_ref()).map(|t| t.0);
                record.running_since = first
                    .and_then(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref())
                    .map(|t| t.0)
                    .or(record.start_time)
                    .or(Some(now));
                record.start_time = record.start_time.or(Some(now));
                record.restarts = first.map_or(0, |c| c.restart_count);
                if !record.shape.host_network {
                    record.ip = status
                        .and_then(|s| s.pod_ip.as_deref())
                        .and_then(|ip| ip.parse().ok());
                }
            }
            Some("Succeeded" | "Failed") => record.stage = Stage::Done,
            _ => {}
        }
        record
    }

    /// The pod is being deleted (seen at `now`, with `metadata.deletionGracePeriodSeconds`):
    /// running containers get their grace period, capped by `cap`; others go at once.
    pub fn deletion_seen(&mut self, now: Timestamp, grace_seconds: Option<i64>, cap: Duration) {
        if self.kill_at.is_some() {
            return;
        }
        let grace = Duration::from_secs(grace_seconds.unwrap_or(30).max(0).unsigned_abs());
        self.kill_at = Some(match self.stage {
            Stage::Running => plus(now, grace.min(cap)),
            _ => now,
        });
    }

    /// What happens next and when; `None` when nothing will until the API changes the pod.
    pub fn next_step(&self, start_delay: Duration) -> Option<(Timestamp, Step)> {
        match (self.stage, self.kill_at) {
            (Stage::Deleting, _) => None,
            (Stage::Running, Some(at)) => Some((at, Step::Kill)),
            (_, Some(at)) => Some((at, Step::Delete)),
            (Stage::Pending, None) => Some((plus(self.first_seen, start_delay), Step::Start)),
            (Stage::Done, None) => None,
            (Stage::Running, None) => {
                let since = self.running_since?;
                let exit = self.shape.exit.map(|exit| {
                    let after = if self.restarts > 0 {
                        exit.after.max(MIN_RESTART_INTERVAL)
                    } else {
                        exit.after
                    };
                    (plus(since, after), Step::Exit)
                });
                let deadline = self
                    .shape
                    .active_deadline
                    .zip(self.start_time)
                    .map(|(d, start)| (plus(start, d), Step::Deadline));
                match (exit, deadline) {
                    (Some(e), Some(d)) => Some(if d.0 <= e.0 { d } else { e }),
                    (e, d) => e.or(d),
                }
            }
        }
    }

    fn run(&self, host_ip: Ipv4Addr) -> Run<'_> {
        let start_time = self.start_time.unwrap_or(self.first_seen);
        Run {
            shape: &self.shape,
            pod_ip: self.ip.unwrap_or(host_ip),
            host_ip,
            start_time,
            running_since: self.running_since.unwrap_or(start_time),
            restarts: self.restarts,
        }
    }

    /// Takes `step` at `now` on a node with `host_ip`. For [`Step::Start`] the caller has put
    /// the pod's address in `ip` (host-network pods use the node's).
    pub fn take_step(&mut self, step: Step, now: Timestamp, host_ip: Ipv4Addr) -> Effect {
        let mut effect = Effect {
            status: None,
            delete: false,
            release_ip: false,
        };
        match step {
            Step::Start => {
                self.stage = Stage::Running;
                self.start_time = Some(now);
                self.running_since = Some(now);
                effect.status = Some(pod::running_patch(&self.run(host_ip)));
            }
            Step::Exit => {
                let code = self.shape.exit.map_or(0, |e| e.code);
                if self.shape.restart_policy.restarts(code) {
                    effect.status = Some(pod::restarted_patch(&self.run(host_ip), code, now));
                    self.restarts += 1;
                    self.running_since = Some(now);
                } else {
                    let ending = Ending::Exited(code);
                    effect.status = Some(pod::terminal_patch(&self.run(host_ip), ending, now));
                    self.stage = Stage::Done;
                    effect.release_ip = true;
                }
            }
            Step::Deadline => {
                let ending = Ending::DeadlineExceeded;
                effect.status = Some(pod::terminal_patch(&self.run(host_ip), ending, now));
                self.stage = Stage::Done;
                effect.release_ip = true;
            }
            Step::Kill => {
                let ending = Ending::Stopped;
                effect.status = Some(pod::terminal_patch(&self.run(host_ip), ending, now));
                effect.delete = true;
                effect.release_ip = true;
                self.stage = Stage::Deleting;
            }
            Step::Delete => {
                effect.delete = true;
                effect.release_ip = true;
                self.stage = Stage::Deleting;
            }
        }
        effect
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    fn pod(extra: Value) -> Pod {
        let mut pod = json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
            "spec": {"containers": [{"name": "app", "image": "busybox"}]},
        });
        json_patch::merge(&mut pod, &extra);
        serde_json::from_value(pod).unwrap()
    }

    fn record(extra: Value) -> PodRecord {
        let pod = pod(extra);
        PodRecord::adopt(&pod, PodShape::of(&pod).unwrap(), 0, at(0))
    }

    const DELAY: Duration = Duration::from_secs(1);
    const HOST: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 1);

    #[test]
    fn starts_after_the_delay_and_then_waits() {
        let mut r = record(json!({}));
        assert_eq!(r.next_step(DELAY), Some((at(1), Step::Start)));
        r.ip = Some(Ipv4Addr::new(10, 42, 0, 2));
        let effect = r.take_step(Step::Start, at(1), HOST);
        assert_eq!(effect.status.unwrap()["status"]["phase"], "Running");
        assert_eq!(r.stage, Stage::Running);
        assert_eq!(r.next_step(DELAY), None, "runs until something changes");
    }

    #[test]
    fn exits_as_annotated_succeeding_under_never() {
        let mut r = record(
            json!({"metadata": {"annotations": {"sim.rkube.io/exit-after": "3"}},
                                  "spec": {"restartPolicy": "Never"}}),
        );
        r.take_step(Step::Start, at(1), HOST);
        assert_eq!(r.next_step(DELAY), Some((at(4), Step::Exit)));
        let effect = r.take_step(Step::Exit, at(4), HOST);
        assert_eq!(effect.status.unwrap()["status"]["phase"], "Succeeded");
        assert!(effect.release_ip && !effect.delete);
        assert_eq!((r.stage, r.next_step(DELAY)), (Stage::Done, None));
    }

    #[test]
    fn restarts_under_always_and_on_failure_with_a_nonzero_code() {
        for policy in ["Always", "OnFailure"] {
            let mut r = record(json!({
                "metadata": {"annotations": {"sim.rkube.io/exit-after": "0",
                                             "sim.rkube.io/exit-code": "2"}},
                "spec": {"restartPolicy": policy}}));
            r.take_step(Step::Start, at(1), HOST);
            assert_eq!(r.next_step(DELAY), Some((at(1), Step::Exit)));
            let effect = r.take_step(Step::Exit, at(1), HOST);
            assert_eq!(
                effect.status.unwrap()["status"]["containerStatuses"][0]["restartCount"],
                1
            );
            assert_eq!(r.stage, Stage::Running);
            assert_eq!(
                r.next_step(DELAY),
                Some((at(2), Step::Exit)),
                "restarts are at least {MIN_RESTART_INTERVAL:?} apart"
            );
        }
        let mut r = record(json!({
            "metadata": {"annotations": {"sim.rkube.io/exit-after": "1"}},
            "spec": {"restartPolicy": "OnFailure"}}));
        r.take_step(Step::Start, at(1), HOST);
        let effect = r.take_step(Step::Exit, at(2), HOST);
        assert_eq!(effect.status.unwrap()["status"]["phase"], "Succeeded");
    }

    #[test]
    fn the_active_deadline_counts_from_the_start_time_and_wins_when_earlier() {
        let mut r = record(json!({
            "metadata": {"annotations": {"sim.rkube.io/exit-after": "10"}},
            "spec": {"activeDeadlineSeconds": 2}}));
        r.take_step(Step::Start, at(1), HOST);
        assert_eq!(r.next_step(DELAY), Some((at(3), Step::Deadline)));
        let effect = r.take_step(Step::Deadline, at(3), HOST);
        assert_eq!(
            effect.status.unwrap()["status"]["reason"],
            "DeadlineExceeded"
        );
        assert_eq!(r.stage, Stage::Done);
    }

    #[test]
    fn deletion_stops_running_pods_within_the_cap_and_others_at_once() {
        let cap = Duration::from_secs(1);
        let mut r = record(json!({}));
        r.take_step(Step::Start, at(1), HOST);
        r.deletion_seen(at(5), Some(30), cap);
        assert_eq!(r.next_step(DELAY), Some((at(6), Step::Kill)));
        r.deletion_seen(at(9), Some(0), cap);
        assert_eq!(r.kill_at, Some(at(6)), "the first sighting counts");
        let effect = r.take_step(Step::Kill, at(6), HOST);
        assert!(effect.delete && effect.release_ip);
        assert_eq!(effect.status.unwrap()["status"]["phase"], "Succeeded");
        assert_eq!(r.next_step(DELAY), None);

        let mut pending = record(json!({}));
        pending.deletion_seen(at(0), Some(30), cap);
        assert_eq!(pending.next_step(DELAY), Some((at(0), Step::Delete)));
        let effect = pending.take_step(Step::Delete, at(0), HOST);
        assert!(effect.delete && effect.status.is_none());
    }

    #[test]
    fn adopts_running_and_finished_pods_after_a_restart() {
        let r = record(json!({"status": {
            "phase": "Running", "podIP": "10.42.0.7", "startTime": "2023-11-14T22:13:20Z",
            "containerStatuses": [{"name": "app", "image": "busybox", "imageID": "", "ready": true,
                "restartCount": 2, "state": {"running": {"startedAt": "2023-11-14T22:13:25Z"}}}]}}));
        assert_eq!(r.stage, Stage::Running);
        assert_eq!(r.ip, Some(Ipv4Addr::new(10, 42, 0, 7)));
        assert_eq!((r.start_time, r.running_since), (Some(at(0)), Some(at(5))));
        assert_eq!(r.restarts, 2);
        let done = record(json!({"status": {"phase": "Failed"}}));
        assert_eq!((done.stage, done.next_step(DELAY)), (Stage::Done, None));
    }
}
