//! Events, both `v1` and `events.k8s.io/v1` (upstream prints both with `printEvent`
//! after converting to the internal type; here the field names are mapped instead).

use crate::descriptions as d;
use crate::duration::timestamp;
use crate::util::{int, s};
use crate::{Column, Ctx, NAME, Row, name, row};
use serde_json::Value;

/// `kubectl get events` columns.
pub(crate) static EVENT_COLUMNS: &[Column] = &[
    Column::new("Last Seen", "string", d::EV_LAST),
    Column::new("Type", "string", d::EV_TYPE),
    Column::new("Reason", "string", d::EV_REASON),
    Column::new("Object", "string", d::EV_INVOLVED),
    Column::new("Subobject", "string", d::REF_FIELD_PATH).wide(),
    Column::new("Source", "string", d::EV_SOURCE).wide(),
    Column::new("Message", "string", d::EV_MESSAGE),
    Column::new("First Seen", "string", d::EV_FIRST).wide(),
    Column::new("Count", "string", d::EV_COUNT).wide(),
    NAME.wide(),
];

/// The fields `printEvent` reads, wherever the API version keeps them.
struct EventFields<'a> {
    involved: &'a Value,
    first_timestamp: &'a Value,
    last_timestamp: &'a Value,
    event_time: &'a Value,
    count: &'a Value,
    series: &'a Value,
    source: &'a Value,
    reporting_controller: &'a str,
    reporting_instance: &'a str,
    message: &'a str,
}

/// A `v1` Event row.
pub(crate) fn core_event_row(ev: &Value, ctx: &Ctx) -> Row {
    event_row(
        ev,
        &EventFields {
            involved: &ev["involvedObject"],
            first_timestamp: &ev["firstTimestamp"],
            last_timestamp: &ev["lastTimestamp"],
            event_time: &ev["eventTime"],
            count: &ev["count"],
            series: &ev["series"],
            source: &ev["source"],
            reporting_controller: s(&ev["reportingComponent"]),
            reporting_instance: s(&ev["reportingInstance"]),
            message: s(&ev["message"]),
        },
        ctx,
    )
}

/// An `events.k8s.io/v1` Event row.
pub(crate) fn events_v1_row(ev: &Value, ctx: &Ctx) -> Row {
    event_row(
        ev,
        &EventFields {
            involved: &ev["regarding"],
            first_timestamp: &ev["deprecatedFirstTimestamp"],
            last_timestamp: &ev["deprecatedLastTimestamp"],
            event_time: &ev["eventTime"],
            count: &ev["deprecatedCount"],
            series: &ev["series"],
            source: &ev["deprecatedSource"],
            reporting_controller: s(&ev["reportingController"]),
            reporting_instance: s(&ev["reportingInstance"]),
            message: s(&ev["note"]),
        },
        ctx,
    )
}

/// Last Seen, Type, Reason, Object, Subobject, Source, Message, First Seen, Count, Name.
fn event_row(ev: &Value, f: &EventFields<'_>, ctx: &Ctx) -> Row {
    let first_seen = if timestamp(f.first_timestamp).is_some() {
        ctx.since(f.first_timestamp)
    } else {
        ctx.since(f.event_time)
    };
    let mut last_seen = if timestamp(f.last_timestamp).is_some() {
        ctx.since(f.last_timestamp)
    } else {
        first_seen.clone()
    };
    let mut count = int(f.count);
    if f.series.is_object() {
        last_seen = ctx.since(&f.series["lastObservedTime"]);
        count = int(&f.series["count"]);
    } else if count == 0 {
        // Singleton events carry no count in the new API.
        count = 1;
    }
    let kind = s(&f.involved["kind"]).to_lowercase();
    let target = match s(&f.involved["name"]) {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let component = match s(&f.source["component"]) {
        "" => f.reporting_controller,
        c => c,
    };
    let host = match s(&f.source["host"]) {
        "" => f.reporting_instance,
        h => h,
    };
    let source = if host.is_empty() {
        component.to_owned()
    } else {
        format!("{component}, {host}")
    };
    row![
        last_seen,
        s(&ev["type"]),
        s(&ev["reason"]),
        target,
        s(&f.involved["fieldPath"]),
        source,
        f.message.trim(),
        first_seen,
        count,
        name(ev),
    ]
}
