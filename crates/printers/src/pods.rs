//! Pods: upstream's `printPod`, including its status-reason logic and the
//! "3 (5m ago)" restart column.

use crate::descriptions as d;
use crate::duration::timestamp;
use crate::util::{arr, int, is_set, s, truthy};
use crate::{AGE, Column, Ctx, NAME, Row};
use serde_json::{Value, json};

/// `kubectl get pods` columns.
pub(crate) static POD_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    Column::new(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    Column::new(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    Column::new("IP", "string", d::POD_IP).wide(),
    Column::new("Node", "string", d::POD_NODE_NAME).wide(),
    Column::new("Nominated Node", "string", d::POD_NOMINATED).wide(),
    Column::new("Readiness Gates", "string", d::POD_READINESS_GATES).wide(),
];

/// Keeps the later of two optional timestamps (Go's `lastRestartDate.Before`).
fn latest(cur: &mut Option<i128>, candidate: Option<i128>) {
    if let Some(t) = candidate
        && cur.is_none_or(|c| c < t)
    {
        *cur = Some(t);
    }
}

/// When a container last terminated before its current run.
fn last_terminated(status: &Value) -> Option<i128> {
    let term = &status["lastState"]["terminated"];
    if term.is_object() {
        timestamp(&term["finishedAt"])
    } else {
        None
    }
}

fn condition_true(status: &Value, ty: &str) -> bool {
    arr(&status["conditions"])
        .iter()
        .any(|c| s(&c["type"]) == ty && s(&c["status"]) == "True")
}

/// `isPodInitializedConditionTrue`: the first `Initialized` condition decides.
fn initialized(status: &Value) -> bool {
    arr(&status["conditions"])
        .iter()
        .find(|c| s(&c["type"]) == "Initialized")
        .is_some_and(|c| s(&c["status"]) == "True")
}

/// "Init:"-less termination reason: the reason, else `Signal:N` or `ExitCode:N`.
fn terminated_reason(term: &Value, prefix: &str) -> String {
    let reason = s(&term["reason"]);
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    let signal = int(&term["signal"]);
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        format!("{prefix}ExitCode:{}", int(&term["exitCode"]))
    }
}

/// One pod row: Name, Ready, Status, Restarts, Age, IP, Node, Nominated Node, Readiness Gates.
pub(crate) fn pod_row(pod: &Value, ctx: &Ctx) -> Row {
    let spec = &pod["spec"];
    let status = &pod["status"];
    let init_containers = arr(&spec["initContainers"]);
    let restartable = |name: &str| {
        init_containers
            .iter()
            .rev()
            .find(|c| s(&c["name"]) == name)
            .is_some_and(|c| s(&c["restartPolicy"]) == "Always")
    };

    let total = arr(&spec["containers"]).len()
        + init_containers
            .iter()
            .filter(|c| s(&c["restartPolicy"]) == "Always")
            .count();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut restartable_restarts = 0i64;
    let mut last_restart: Option<i128> = None;
    let mut last_restartable_restart: Option<i128> = None;

    let phase = s(&status["phase"]);
    let mut reason = phase.to_owned();
    if !s(&status["reason"]).is_empty() {
        reason = s(&status["reason"]).to_owned();
    }
    for c in arr(&status["conditions"]) {
        if s(&c["type"]) == "PodScheduled" && s(&c["reason"]) == "SchedulingGated" {
            reason = "SchedulingGated".to_owned();
        }
    }
    let conditions = match phase {
        "Succeeded" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]),
        ),
        "Failed" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]),
        ),
        _ => None,
    };

    let mut initializing = false;
    for (i, c) in arr(&status["initContainerStatuses"]).iter().enumerate() {
        let sidecar = restartable(s(&c["name"]));
        restarts += int(&c["restartCount"]);
        latest(&mut last_restart, last_terminated(c));
        if sidecar {
            restartable_restarts += int(&c["restartCount"]);
            latest(&mut last_restartable_restart, last_terminated(c));
        }
        let term = &c["state"]["terminated"];
        let waiting = &c["state"]["waiting"];
        if term.is_object() && int(&term["exitCode"]) == 0 {
            continue;
        }
        if sidecar && truthy(&c["started"]) {
            if truthy(&c["ready"]) {
                ready += 1;
            }
            continue;
        }
        initializing = true;
        reason = if term.is_object() {
            terminated_reason(term, "Init:")
        } else if waiting.is_object()
            && !s(&waiting["reason"]).is_empty()
            && s(&waiting["reason"]) != "PodInitializing"
        {
            format!("Init:{}", s(&waiting["reason"]))
        } else {
            format!("Init:{}/{}", i, init_containers.len())
        };
        break;
    }

    if !initializing || initialized(status) {
        restarts = restartable_restarts;
        last_restart = last_restartable_restart;
        let mut has_running = false;
        for c in arr(&status["containerStatuses"]).iter().rev() {
            restarts += int(&c["restartCount"]);
            latest(&mut last_restart, last_terminated(c));
            let waiting = &c["state"]["waiting"];
            let term = &c["state"]["terminated"];
            if waiting.is_object() && !s(&waiting["reason"]).is_empty() {
                reason = s(&waiting["reason"]).to_owned();
            } else if term.is_object() {
                reason = terminated_reason(term, "");
            } else if truthy(&c["ready"]) && c["state"]["running"].is_object() {
                has_running = true;
                ready += 1;
            }
        }
        // Back to "Running" if at least one container still runs.
        if reason == "Completed" && has_running {
            reason = if condition_true(status, "Ready") {
                "Running"
            } else {
                "NotReady"
            }
            .to_owned();
        }
    }

    let deleting = is_set(&pod["metadata"]["deletionTimestamp"]);
    if deleting && s(&status["reason"]) == "NodeLost" {
        reason = "Unknown".to_owned();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_owned();
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!(
            "{restarts} ({} ago)",
            crate::duration::human_duration(ctx.now - t)
        ),
        _ => restarts.to_string(),
    };

    let ip = arr(&status["podIPs"])
        .first()
        .map(|p| s(&p["ip"]))
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| s(&status["podIP"]));
    let gates = arr(&spec["readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_owned()
    } else {
        let met = gates
            .iter()
            .filter(|g| {
                arr(&status["conditions"])
                    .iter()
                    .find(|c| s(&c["type"]) == s(&g["conditionType"]))
                    .is_some_and(|c| s(&c["status"]) == "True")
            })
            .count();
        format!("{met}/{}", gates.len())
    };
    let or_none = |x: &str| {
        if x.is_empty() {
            "<none>".to_owned()
        } else {
            x.to_owned()
        }
    };

    Row {
        cells: vec![
            Value::from(s(&pod["metadata"]["name"])),
            Value::from(format!("{ready}/{total}")),
            Value::from(reason),
            Value::from(restarts_cell),
            Value::from(ctx.age(pod)),
            Value::from(or_none(ip)),
            Value::from(or_none(s(&spec["nodeName"]))),
            Value::from(or_none(s(&status["nominatedNodeName"]))),
            Value::from(readiness_gates),
        ],
        conditions,
    }
}
