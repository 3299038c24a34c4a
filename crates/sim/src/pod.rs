//! Pods on simulated nodes, without IO: what the simulator keeps of a pod ([`PodShape`]), the
//! annotations that steer it, and the `pods/status` patches a kubelet would write.
//!
//! Patches are strategic merge patches, as upstream's kubelet sends: conditions merge by
//! type (so `PodScheduled` and others' conditions stay), container statuses by name, and the
//! states a container left are deleted with explicit `null`s.

use k8s_openapi::api::core::v1::{Container as ApiContainer, Pod};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

/// Annotation: the containers exit this long (seconds, or `10s`, `1m`) after they start.
pub const EXIT_AFTER_ANNOTATION: &str = "sim.rkube.io/exit-after";
/// Annotation: the exit code the containers exit with (default 0).
pub const EXIT_CODE_ANNOTATION: &str = "sim.rkube.io/exit-code";
/// The shortest time between two restarts of a container that keeps exiting.
pub const MIN_RESTART_INTERVAL: Duration = Duration::from_secs(1);

/// A pod's `restartPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// `Always` (the default).
    Always,
    /// `OnFailure`.
    OnFailure,
    /// `Never`.
    Never,
}

impl RestartPolicy {
    /// Whether a container exiting with `code` is started again.
    pub fn restarts(self, code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// When and how the pod's containers exit on their own (from the annotations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// How long after they start.
    pub after: Duration,
    /// With which code.
    pub code: i32,
}

/// One container, as far as statuses need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerShape {
    /// Its name.
    pub name: Box<str>,
    /// Its image.
    pub image: Box<str>,
    /// An init container with `restartPolicy: Always` (a sidecar): it keeps running.
    pub sidecar: bool,
}

impl ContainerShape {
    fn of(c: &ApiContainer) -> ContainerShape {
        ContainerShape {
            name: c.name.as_str().into(),
            image: c.image.as_deref().unwrap_or_default().into(),
            sidecar: c.restart_policy.as_deref() == Some("Always"),
        }
    }
}

/// What the simulator keeps of a pod's spec: enough to write its statuses.
#[derive(Debug, Clone, PartialEq)]
pub struct PodShape {
    /// `metadata.uid`.
    pub uid: Arc<str>,
    /// Regular containers.
    pub containers: Box<[ContainerShape]>,
    /// Init containers (sidecars among them).
    pub init_containers: Box<[ContainerShape]>,
    /// `spec.restartPolicy`.
    pub restart_policy: RestartPolicy,
    /// The exit the annotations ask for.
    pub exit: Option<Exit>,
    /// `spec.activeDeadlineSeconds`.
    pub active_deadline: Option<Duration>,
    /// `status.qosClass` (the API server sets it on create; computed if absent).
    pub qos_class: &'static str,
    /// `spec.hostNetwork`: the pod IP is the node's.
    pub host_network: bool,
}

impl PodShape {
    /// The shape of `pod`; `None` without a uid or spec.
    pub fn of(pod: &Pod) -> Option<PodShape> {
        let spec = pod.spec.as_ref()?;
        let uid: Arc<str> = pod.metadata.uid.as_deref()?.into();
        let annotations = pod.metadata.annotations.as_ref();
        let annotation = |key| annotations.and_then(|a| a.get(key)).map(String::as_str);
        let exit = annotation(EXIT_AFTER_ANNOTATION).and_then(|after| {
            let after = crate::parse_duration(after).ok()?;
            let code = annotation(EXIT_CODE_ANNOTATION)
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or(0);
            Some(Exit { after, code })
        });
        let restart_policy = match spec.restart_policy.as_deref() {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        };
        let qos_class = match pod.status.as_ref().and_then(|s| s.qos_class.as_deref()) {
            Some("Guaranteed") => "Guaranteed",
            Some("BestEffort") => "BestEffort",
            Some("Burstable") => "Burstable",
            _ => qos_class(
                spec.containers
                    .iter()
                    .chain(spec.init_containers.iter().flatten()),
            ),
        };
        Some(PodShape {
            uid,
            containers: spec.containers.iter().map(ContainerShape::of).collect(),
            init_containers: spec
                .init_containers
                .iter()
                .flatten()
                .map(ContainerShape::of)
                .collect(),
            restart_policy,
            exit,
            active_deadline: spec
                .active_deadline_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs),
            qos_class,
            host_network: spec.host_network == Some(true),
        })
    }

    /// The fake container ID of container `name` in its `restarts`th run.
    pub fn container_id(&self, name: &str, restarts: i32) -> String {
        format!("sim://{}", hex64(&(&*self.uid, name, restarts)))
    }
}

/// Upstream's QoS classes, simplified: requests and limits compare as written.
fn qos_class<'a>(containers: impl Iterator<Item = &'a ApiContainer>) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let resources = c.resources.as_ref();
        let requests = resources.and_then(|r| r.requests.as_ref());
        let limits = resources.and_then(|r| r.limits.as_ref());
        for name in ["cpu", "memory"] {
            let request = requests.and_then(|r| r.get(name));
            let limit = limits.and_then(|l| l.get(name));
            any |= request.is_some() || limit.is_some();
            guaranteed &= limit.is_some() && (request.is_none() || request == limit);
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// 64 hex digits derived from `value` (stable for equal values).
fn hex64(value: &impl Hash) -> String {
    (0u8..4)
        .map(|round| {
            let mut hasher = DefaultHasher::new();
            round.hash(&mut hasher);
            value.hash(&mut hasher);
            format!("{:016x}", hasher.finish())
        })
        .collect()
}

/// The `imageID` a runtime would report for `image`: its repository and a digest.
fn image_id(image: &str) -> String {
    let repository = image.split('@').next().unwrap_or(image);
    let repository = match repository.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => repository,
    };
    format!("{repository}@sha256:{}", hex64(&image))
}

/// RFC 3339 with whole seconds (`metav1.Time`).
pub fn time(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// What a status patch is about: the pod, its addresses and the current run's times.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// The pod.
    pub shape: &'a PodShape,
    /// Its IP.
    pub pod_ip: Ipv4Addr,
    /// Its node's IP.
    pub host_ip: Ipv4Addr,
    /// `status.startTime`.
    pub start_time: Timestamp,
    /// When the current containers started.
    pub running_since: Timestamp,
    /// Restarts so far.
    pub restarts: i32,
}

fn condition(kind: &str, status: bool, at: Timestamp, reason: Option<&str>) -> Value {
    let mut c = json!({
        "type": kind,
        "status": if status { "True" } else { "False" },
        "lastProbeTime": null,
        "lastTransitionTime": time(at),
    });
    if let Some(reason) = reason {
        c["reason"] = json!(reason);
    }
    c
}

fn running_container(run: &Run<'_>, c: &ContainerShape, last: Option<Value>) -> Value {
    json!({
        "name": &*c.name,
        "image": &*c.image,
        "imageID": image_id(&c.image),
        "containerID": run.shape.container_id(&c.name, run.restarts),
        "ready": true,
        "started": true,
        "restartCount": run.restarts,
        "state": {"running": {"startedAt": time(run.running_since)}, "waiting": null, "terminated": null},
        "lastState": last.map_or(json!({"terminated": null}), |t| json!({"terminated": t})),
    })
}

fn terminated(run: &Run<'_>, c: &ContainerShape, code: i32, at: Timestamp, restarts: i32) -> Value {
    json!({
        "exitCode": code,
        "reason": if code == 0 { "Completed" } else { "Error" },
        "startedAt": time(run.running_since),
        "finishedAt": time(at),
        "containerID": run.shape.container_id(&c.name, restarts),
    })
}

fn init_statuses(run: &Run<'_>) -> Vec<Value> {
    run.shape
        .init_containers
        .iter()
        .map(|c| {
            if c.sidecar {
                return running_container(run, c, None);
            }
            json!({
                "name": &*c.name,
                "image": &*c.image,
                "imageID": image_id(&c.image),
                "containerID": run.shape.container_id(&c.name, 0),
                "ready": true,
                "started": false,
                "restartCount": 0,
                "state": {"terminated": {
                    "exitCode": 0, "reason": "Completed",
                    "startedAt": time(run.start_time), "finishedAt": time(run.start_time),
                    "containerID": run.shape.container_id(&c.name, 0),
                }, "waiting": null, "running": null},
            })
        })
        .collect()
}

/// `Pending` → `Running`: addresses, start time, every condition `True`, containers running.
pub fn running_patch(run: &Run<'_>) -> Value {
    let at = run.running_since;
    let mut patch = json!({"status": {
        "phase": "Running",
        "hostIP": run.host_ip.to_string(),
        "hostIPs": [{"ip": run.host_ip.to_string()}],
        "podIP": run.pod_ip.to_string(),
        "podIPs": [{"ip": run.pod_ip.to_string()}],
        "startTime": time(run.start_time),
        "qosClass": run.shape.qos_class,
        "conditions": [
            condition("PodReadyToStartContainers", true, run.start_time, None),
            condition("Initialized", true, run.start_time, None),
            condition("ContainersReady", true, at, None),
            condition("Ready", true, at, None),
        ],
        "containerStatuses": run.shape.containers.iter()
            .map(|c| running_container(run, c, None)).collect::<Vec<_>>(),
    }});
    let init = init_statuses(run);
    if !init.is_empty() {
        patch["status"]["initContainerStatuses"] = json!(init);
    }
    patch
}

/// The containers exited with `code` at `now` and were started again: one more restart,
/// the exit as `lastState`, the pod stays `Running` and ready.
pub fn restarted_patch(run: &Run<'_>, code: i32, now: Timestamp) -> Value {
    let next = Run {
        restarts: run.restarts + 1,
        running_since: now,
        ..*run
    };
    json!({"status": {
        "containerStatuses": run.shape.containers.iter().map(|c| {
            running_container(&next, c, Some(terminated(run, c, code, now, run.restarts)))
        }).collect::<Vec<_>>(),
    }})
}

/// How a pod ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Its containers exited with this code and are not restarted.
    Exited(i32),
    /// `activeDeadlineSeconds` passed: killed, `Failed` with reason `DeadlineExceeded`.
    DeadlineExceeded,
    /// Deleted: the containers were stopped gracefully (exit code 0).
    Stopped,
}

/// The pod is over at `now`: a terminal phase, containers terminated, not ready.
pub fn terminal_patch(run: &Run<'_>, ending: Ending, now: Timestamp) -> Value {
    let code = match ending {
        Ending::Exited(code) => code,
        Ending::DeadlineExceeded => 137,
        Ending::Stopped => 0,
    };
    let succeeded = code == 0;
    let names: Vec<&str> = run.shape.containers.iter().map(|c| &*c.name).collect();
    let (reason, message) = if succeeded {
        ("PodCompleted".to_owned(), None)
    } else {
        (
            "ContainersNotReady".to_owned(),
            Some(format!(
                "containers with unready status: [{}]",
                names.join(" ")
            )),
        )
    };
    let not_ready = |kind| {
        let mut c = condition(kind, false, now, Some(&reason));
        if let Some(message) = &message {
            c["message"] = json!(message);
        }
        c
    };
    let container = |c: &ContainerShape| {
        json!({
            "name": &*c.name,
            "image": &*c.image,
            "imageID": image_id(&c.image),
            "containerID": run.shape.container_id(&c.name, run.restarts),
            "ready": false,
            "started": false,
            "restartCount": run.restarts,
            "state": {"terminated": terminated(run, c, code, now, run.restarts),
                      "running": null, "waiting": null},
        })
    };
    let mut status = json!({
        "phase": if succeeded { "Succeeded" } else { "Failed" },
        "conditions": [
            condition("PodReadyToStartContainers", false, now, None),
            not_ready("ContainersReady"),
            not_ready("Ready"),
        ],
        "containerStatuses": run.shape.containers.iter().map(container).collect::<Vec<_>>(),
    });
    let sidecars: Vec<Value> = run
        .shape
        .init_containers
        .iter()
        .filter(|c| c.sidecar)
        .map(container)
        .collect();
    if !sidecars.is_empty() {
        status["initContainerStatuses"] = json!(sidecars);
    }
    if ending == Ending::DeadlineExceeded {
        status["reason"] = json!("DeadlineExceeded");
        status["message"] = json!("Pod was active on the node longer than the specified deadline");
    }
    json!({ "status": status })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(extra: Value) -> Pod {
        let mut pod = json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u-1"},
            "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]},
        });
        json_patch::merge(&mut pod, &extra);
        serde_json::from_value(pod).unwrap()
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    fn run(shape: &PodShape) -> Run<'_> {
        Run {
            shape,
            pod_ip: Ipv4Addr::new(10, 42, 0, 2),
            host_ip: Ipv4Addr::new(10, 255, 0, 1),
            start_time: at(0),
            running_since: at(1),
            restarts: 0,
        }
    }

    #[test]
    fn reads_the_shape_and_annotations() {
        let shape = PodShape::of(&pod(json!({
            "metadata": {"annotations": {EXIT_AFTER_ANNOTATION: "2.5", EXIT_CODE_ANNOTATION: "3"}},
            "spec": {"restartPolicy": "OnFailure", "activeDeadlineSeconds": 5,
                     "initContainers": [{"name": "init", "image": "i"},
                                        {"name": "side", "image": "s", "restartPolicy": "Always"}]},
        })))
        .unwrap();
        assert_eq!(
            shape.exit,
            Some(Exit {
                after: Duration::from_millis(2500),
                code: 3
            })
        );
        assert_eq!(shape.restart_policy, RestartPolicy::OnFailure);
        assert_eq!(shape.active_deadline, Some(Duration::from_secs(5)));
        assert_eq!(shape.qos_class, "BestEffort");
        assert_eq!(
            shape
                .init_containers
                .iter()
                .map(|c| c.sidecar)
                .collect::<Vec<_>>(),
            [false, true]
        );
        let bad = PodShape::of(&pod(
            json!({"metadata": {"annotations": {EXIT_AFTER_ANNOTATION: "soon"}}}),
        ));
        assert_eq!(bad.unwrap().exit, None);
    }

    #[test]
    fn computes_the_qos_class_when_the_server_did_not() {
        let limits = json!({"cpu": "1", "memory": "1Gi"});
        let guaranteed = pod(json!({"spec": {"containers": [
            {"name": "app", "image": "x", "resources": {"limits": limits}}]}}));
        assert_eq!(PodShape::of(&guaranteed).unwrap().qos_class, "Guaranteed");
        let burstable = pod(json!({"spec": {"containers": [
            {"name": "app", "image": "x", "resources": {"requests": {"cpu": "100m"}}}]}}));
        assert_eq!(PodShape::of(&burstable).unwrap().qos_class, "Burstable");
        let given = pod(json!({"status": {"qosClass": "Guaranteed"}}));
        assert_eq!(PodShape::of(&given).unwrap().qos_class, "Guaranteed");
    }

    #[test]
    fn restart_policies_decide_on_the_exit_code() {
        assert!(RestartPolicy::Always.restarts(0));
        assert!(RestartPolicy::OnFailure.restarts(1));
        assert!(!RestartPolicy::OnFailure.restarts(0));
        assert!(!RestartPolicy::Never.restarts(1));
    }

    #[test]
    fn running_status_is_upstream_shaped() {
        let shape = PodShape::of(&pod(
            json!({"spec": {"initContainers": [{"name": "init", "image": "i:1"}]}}),
        ))
        .unwrap();
        let patch = running_patch(&run(&shape));
        let status = &patch["status"];
        assert_eq!(status["phase"], "Running");
        assert_eq!(status["podIP"], "10.42.0.2");
        assert_eq!(status["podIPs"], json!([{"ip": "10.42.0.2"}]));
        assert_eq!(status["hostIPs"], json!([{"ip": "10.255.0.1"}]));
        assert_eq!(status["startTime"], "2023-11-14T22:13:20Z");
        let kinds: Vec<_> = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["type"].as_str().unwrap(), c["status"].as_str().unwrap()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("PodReadyToStartContainers", "True"),
                ("Initialized", "True"),
                ("ContainersReady", "True"),
                ("Ready", "True")
            ]
        );
        let c = &status["containerStatuses"][0];
        assert_eq!(c["ready"], true);
        assert_eq!(c["restartCount"], 0);
        assert_eq!(c["state"]["running"]["startedAt"], "2023-11-14T22:13:21Z");
        assert!(c["state"]["terminated"].is_null());
        let id = c["containerID"].as_str().unwrap();
        assert!(id.starts_with("sim://") && id.len() == 6 + 64, "{id}");
        assert!(
            c["imageID"]
                .as_str()
                .unwrap()
                .starts_with("busybox@sha256:")
        );
        let init = &status["initContainerStatuses"][0];
        assert_eq!(init["state"]["terminated"]["reason"], "Completed");
        let plain = PodShape::of(&pod(json!({}))).unwrap();
        assert!(
            running_patch(&run(&plain))["status"]
                .get("initContainerStatuses")
                .is_none()
        );
        // A status the Pod type reads back.
        let mut p = pod(json!({}));
        p.status = Some(serde_json::from_value(status.clone()).unwrap());
    }

    #[test]
    fn a_restart_keeps_the_pod_running_with_the_exit_as_last_state() {
        let shape = PodShape::of(&pod(json!({}))).unwrap();
        let patch = restarted_patch(&run(&shape), 2, at(9));
        let c = &patch["status"]["containerStatuses"][0];
        assert_eq!(c["restartCount"], 1);
        assert_eq!(c["lastState"]["terminated"]["exitCode"], 2);
        assert_eq!(c["lastState"]["terminated"]["reason"], "Error");
        assert_eq!(c["state"]["running"]["startedAt"], time(at(9)));
        assert_ne!(
            c["containerID"], c["lastState"]["terminated"]["containerID"],
            "a new run gets a new container"
        );
        assert!(patch["status"].get("phase").is_none());
    }

    #[test]
    fn terminal_statuses_name_the_ending() {
        let shape = PodShape::of(&pod(json!({}))).unwrap();
        let done = terminal_patch(&run(&shape), Ending::Exited(0), at(5));
        assert_eq!(done["status"]["phase"], "Succeeded");
        assert_eq!(done["status"]["conditions"][2]["reason"], "PodCompleted");
        let c = &done["status"]["containerStatuses"][0];
        assert_eq!(c["state"]["terminated"]["reason"], "Completed");
        assert!(c["state"]["running"].is_null() && c["ready"] == false);
        let failed = terminal_patch(&run(&shape), Ending::Exited(1), at(5));
        assert_eq!(failed["status"]["phase"], "Failed");
        assert_eq!(
            failed["status"]["containerStatuses"][0]["state"]["terminated"]["reason"],
            "Error"
        );
        let deadline = terminal_patch(&run(&shape), Ending::DeadlineExceeded, at(5));
        assert_eq!(deadline["status"]["phase"], "Failed");
        assert_eq!(deadline["status"]["reason"], "DeadlineExceeded");
        assert_eq!(
            deadline["status"]["conditions"][2]["message"],
            "containers with unready status: [app]"
        );
    }

    #[test]
    fn image_ids_drop_tags_not_registry_ports() {
        assert!(image_id("busybox:1.36").starts_with("busybox@sha256:"));
        assert!(image_id("reg:5000/app").starts_with("reg:5000/app@sha256:"));
        assert!(image_id("app@sha256:abc").starts_with("app@sha256:"));
    }
}
