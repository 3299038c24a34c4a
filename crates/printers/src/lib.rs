//! Server-side Table output (`as=Table`): upstream kubectl's columns for every served kind.
//!
//! [`table`] renders objects of one resource as a `meta.k8s.io/v1` Table with the
//! columns and cell formats of upstream's `pkg/printers/internalversion` (as of
//! Kubernetes 1.33). All cells are generated as upstream's server does, that is
//! with the `-o wide` (priority 1) cells included; kubectl hides those itself.

mod apps;
mod batch;
mod core;
mod custom;
mod descriptions;
pub mod duration;
mod events;
mod other;
mod pods;
mod quantity;
mod registry;
mod util;

use serde_json::{Map, Value, json};
use std::time::SystemTime;

pub use custom::{CustomColumn, custom_table};
pub use duration::human_duration;

/// How much of each object a Table row carries (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A PartialObjectMetadata (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter; absent or unknown means `Metadata`.
    pub fn parse(value: Option<&str>) -> IncludeObject {
        match value {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// One column definition (`metav1.TableColumnDefinition`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    name: &'static str,
    ty: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
}

impl Column {
    /// A default (priority 0) column.
    pub(crate) const fn new(
        name: &'static str,
        ty: &'static str,
        description: &'static str,
    ) -> Column {
        Column {
            name,
            ty,
            format: "",
            description,
            priority: 0,
        }
    }

    /// The same column shown only with `-o wide` (priority 1).
    pub(crate) const fn wide(self) -> Column {
        Column {
            priority: 1,
            ..self
        }
    }

    /// The same column with a `format` ("name" for object names).
    pub(crate) const fn format(self, format: &'static str) -> Column {
        Column { format, ..self }
    }

    fn to_json(self) -> Value {
        json!({
            "name": self.name,
            "type": self.ty,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// The `Name` column every printer starts with.
pub(crate) const NAME: Column =
    Column::new("Name", "string", descriptions::META_NAME).format("name");
/// The `Age` column (a human duration since `metadata.creationTimestamp`).
pub(crate) const AGE: Column = Column::new("Age", "string", descriptions::META_CREATION);
/// The wide `Containers` column of workloads.
pub(crate) const CONTAINERS: Column = Column::new(
    "Containers",
    "string",
    "Names of each container in the template.",
)
.wide();
/// The wide `Images` column of workloads.
pub(crate) const IMAGES: Column = Column::new(
    "Images",
    "string",
    "Images referenced by each container in the template.",
)
.wide();

/// What row functions need besides the object: the current time.
pub(crate) struct Ctx {
    /// Nanoseconds since the Unix epoch.
    now: i128,
}

impl Ctx {
    /// `translateTimestampSince` of a timestamp field.
    pub(crate) fn since(&self, v: &Value) -> String {
        duration::since(v, self.now)
    }

    /// The object's age from `metadata.creationTimestamp`.
    pub(crate) fn age(&self, obj: &Value) -> String {
        self.since(&obj["metadata"]["creationTimestamp"])
    }
}

/// One table row's cells and optional row conditions.
pub(crate) struct Row {
    cells: Vec<Value>,
    conditions: Option<Value>,
}

impl From<Vec<Value>> for Row {
    fn from(cells: Vec<Value>) -> Row {
        Row {
            cells,
            conditions: None,
        }
    }
}

/// Builds a [`Row`] from cell expressions, each converted with `Value::from`.
macro_rules! row {
    ($($cell:expr),* $(,)?) => {
        $crate::Row::from(vec![$(serde_json::Value::from($cell)),*])
    };
}
pub(crate) use row;

/// A row function: one object to its cells.
pub(crate) type RowFn = fn(&Value, &Ctx) -> Row;

/// The columns and row function of one resource.
pub(crate) struct Printer {
    columns: &'static [Column],
    row: RowFn,
}

/// The object's `metadata.name`.
pub(crate) fn name(obj: &Value) -> &str {
    util::s(&obj["metadata"]["name"])
}

/// Builds a `meta.k8s.io/v1` Table of `objects` of resource `group`/`resource`.
#[allow(clippy::too_many_arguments)]
pub fn table(
    group: &str,
    resource: &str,
    objects: &[Value],
    include: IncludeObject,
    with_columns: bool,
    resource_version: &str,
    continue_token: Option<&str>,
    now: SystemTime,
) -> Value {
    let printer = registry::printer(group, resource);
    let ctx = Ctx {
        now: duration::system_time_nanos(now),
    };
    let columns: Vec<Value> = if with_columns {
        printer.columns.iter().map(|c| c.to_json()).collect()
    } else {
        Vec::new()
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let row = (printer.row)(obj, &ctx);
            let mut out = Map::new();
            out.insert("cells".to_owned(), Value::Array(row.cells));
            if let Some(conditions) = row.conditions {
                out.insert("conditions".to_owned(), conditions);
            }
            out.insert("object".to_owned(), row_object(obj, include));
            Value::Object(out)
        })
        .collect();
    table_of(columns, rows, resource_version, continue_token)
}

/// The Table object around its columns and rows.
pub(crate) fn table_of(
    columns: Vec<Value>,
    rows: Vec<Value>,
    resource_version: &str,
    continue_token: Option<&str>,
) -> Value {
    let mut metadata = Map::new();
    if !resource_version.is_empty() {
        metadata.insert("resourceVersion".to_owned(), Value::from(resource_version));
    }
    if let Some(token) = continue_token.filter(|t| !t.is_empty()) {
        metadata.insert("continue".to_owned(), Value::from(token));
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// The `object` of a row for the asked `includeObject`.
fn row_object(obj: &Value, include: IncludeObject) -> Value {
    match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": match &obj["metadata"] {
                Value::Object(m) => Value::Object(m.clone()),
                _ => Value::Object(Map::new()),
            },
        }),
    }
}
