//! `batch` kinds: jobs and cron jobs.

use crate::descriptions as d;
use crate::duration::{human_duration, timestamp};
use crate::util::{
    arr, container_cells, format_label_selector, int, is_set, print_bool, s, truthy,
};
use crate::{AGE, CONTAINERS, Column, Ctx, IMAGES, NAME, Row, name, row};
use serde_json::Value;

/// `kubectl get jobs` columns.
pub(crate) static JOB_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "Status of the job."),
    Column::new("Completions", "string", d::JOB_SUCCEEDED),
    Column::new("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::new("Selector", "string", d::JOB_SELECTOR).wide(),
];

/// `hasJobCondition`: the first condition of the type decides.
fn has_condition(job: &Value, ty: &str) -> bool {
    arr(&job["status"]["conditions"])
        .iter()
        .find(|c| s(&c["type"]) == ty)
        .is_some_and(|c| s(&c["status"]) == "True")
}

/// The 1.33 job status: Complete, Failed, Terminating, Suspended, FailureTarget or Running.
fn job_status(job: &Value) -> &'static str {
    if has_condition(job, "Complete") {
        "Complete"
    } else if has_condition(job, "Failed") {
        "Failed"
    } else if is_set(&job["metadata"]["deletionTimestamp"]) {
        "Terminating"
    } else if has_condition(job, "Suspended") {
        "Suspended"
    } else if has_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

/// Name, Status, Completions ("1/3", "0/1 of 2"), Duration, Age, Containers, Images, Selector.
pub(crate) fn job_row(job: &Value, ctx: &Ctx) -> Row {
    let spec = &job["spec"];
    let status = &job["status"];
    let succeeded = int(&status["succeeded"]);
    let completions = if spec["completions"].is_number() {
        format!("{succeeded}/{}", int(&spec["completions"]))
    } else {
        let parallelism = int(&spec["parallelism"]);
        if parallelism > 1 {
            format!("{succeeded}/1 of {parallelism}")
        } else {
            format!("{succeeded}/1")
        }
    };
    let duration = match (
        timestamp(&status["startTime"]),
        timestamp(&status["completionTime"]),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(ctx.now - start),
        (Some(start), Some(end)) => human_duration(end - start),
    };
    let (names, images) = container_cells(&spec["template"]["spec"]);
    row![
        name(job),
        job_status(job),
        completions,
        duration,
        ctx.age(job),
        names,
        images,
        format_label_selector(&spec["selector"]),
    ]
}

/// `kubectl get cronjobs` columns.
pub(crate) static CRONJOB_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Schedule", "string", d::CJ_SCHEDULE),
    Column::new("Timezone", "string", d::CJ_TIMEZONE),
    Column::new("Suspend", "boolean", d::CJ_SUSPEND),
    Column::new("Active", "integer", d::CJ_ACTIVE),
    Column::new("Last Schedule", "string", d::CJ_LAST),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::new("Selector", "string", d::JOB_SELECTOR).wide(),
];

/// Name, Schedule, Timezone, Suspend, Active, Last Schedule, Age, Containers, Images, Selector.
pub(crate) fn cronjob_row(cj: &Value, ctx: &Ctx) -> Row {
    let spec = &cj["spec"];
    let last = &cj["status"]["lastScheduleTime"];
    let last = if is_set(last) {
        ctx.since(last)
    } else {
        "<none>".to_owned()
    };
    let job_spec = &spec["jobTemplate"]["spec"];
    let (names, images) = container_cells(&job_spec["template"]["spec"]);
    row![
        name(cj),
        s(&spec["schedule"]),
        spec["timeZone"].as_str().unwrap_or("<none>"),
        // `suspend` defaults to false.
        print_bool(truthy(&spec["suspend"])),
        arr(&cj["status"]["active"]).len() as i64,
        last,
        ctx.age(cj),
        names,
        images,
        format_label_selector(&job_spec["selector"]),
    ]
}
