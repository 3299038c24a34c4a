//! Tables of custom resources: Name, then the CRD's `additionalPrinterColumns` (or Age
//! when it has none), cells read from the object by simple JSONPath.

use crate::{Ctx, descriptions, duration, row_object};
use serde_json::{Value, json};

/// One `additionalPrinterColumns` entry of a CRD version.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// OpenAPI format.
    pub format: String,
    /// What the column shows.
    pub description: String,
    /// 0 for the default view, more for `-o wide`.
    pub priority: i64,
    /// JSONPath of the cell, e.g. `.spec.replicas` or `.status.conditions[0].type`.
    pub json_path: String,
}

enum Step {
    Field(String),
    Index(usize),
    All,
}

/// Parses the JSONPath subset CRDs use: `.a.b`, `.a[0]`, `.a[*]`, `.a['b.c']`, and
/// `\.` escaping a dot inside a field name.
fn parse(path: &str) -> Option<Vec<Step>> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut steps = Vec::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    match n {
                        '.' | '[' => break,
                        '\\' => {
                            chars.next();
                            if let Some(escaped) = chars.next() {
                                name.push(escaped);
                            }
                        }
                        _ => {
                            name.push(n);
                            chars.next();
                        }
                    }
                }
                if !name.is_empty() {
                    steps.push(Step::Field(name));
                }
            }
            '[' => {
                let mut inner = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    inner.push(n);
                }
                let inner = inner.trim();
                if inner == "*" {
                    steps.push(Step::All);
                } else if let Ok(i) = inner.parse() {
                    steps.push(Step::Index(i));
                } else {
                    steps.push(Step::Field(inner.trim_matches(['\'', '"']).to_owned()));
                }
            }
            _ => return None,
        }
    }
    Some(steps)
}

fn select<'a>(obj: &'a Value, steps: &[Step]) -> Vec<&'a Value> {
    let mut current = vec![obj];
    for step in steps {
        current = current
            .into_iter()
            .flat_map(|v| -> Vec<&Value> {
                match step {
                    Step::Field(name) => v.get(name.as_str()).into_iter().collect(),
                    Step::Index(i) => v.get(*i).into_iter().collect(),
                    Step::All => match v {
                        Value::Array(items) => items.iter().collect(),
                        Value::Object(map) => map.values().collect(),
                        _ => Vec::new(),
                    },
                }
            })
            .collect();
    }
    current
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn cell(obj: &Value, column: &CustomColumn, ctx: &Ctx) -> Value {
    let Some(steps) = parse(&column.json_path) else {
        return Value::Null;
    };
    let found = select(obj, &steps);
    match (found.as_slice(), column.type_.as_str()) {
        ([], _) => Value::Null,
        ([one], "date") => match duration::parse_rfc3339(one.as_str().unwrap_or("")) {
            Some(_) => Value::from(ctx.since(one)),
            None => Value::from(text(one)),
        },
        ([one], "integer") if one.is_i64() || one.is_u64() => (*one).clone(),
        ([one], "number") if one.is_number() => (*one).clone(),
        ([one], "boolean") if one.is_boolean() => (*one).clone(),
        ([one], _) => Value::from(text(one)),
        (many, _) => Value::from(many.iter().map(|v| text(v)).collect::<Vec<_>>().join(",")),
    }
}

/// Builds a `meta.k8s.io/v1` Table of custom objects with their CRD's printer columns.
pub fn custom_table(
    columns: &[CustomColumn],
    objects: &[Value],
    include: crate::IncludeObject,
    with_columns: bool,
    resource_version: &str,
    continue_token: Option<&str>,
    now: std::time::SystemTime,
) -> Value {
    let age = CustomColumn {
        name: "Age".to_owned(),
        type_: "date".to_owned(),
        format: String::new(),
        description: descriptions::META_CREATION.to_owned(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".to_owned(),
    };
    let columns: Vec<CustomColumn> = if columns.is_empty() {
        vec![age]
    } else {
        columns.to_vec()
    };
    let ctx = Ctx {
        now: duration::system_time_nanos(now),
    };
    let mut definitions = vec![json!({
        "name": "Name", "type": "string", "format": "name",
        "description": descriptions::META_NAME, "priority": 0,
    })];
    definitions.extend(columns.iter().map(|c| {
        json!({
            "name": c.name, "type": c.type_, "format": c.format,
            "description": c.description, "priority": c.priority,
        })
    }));
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let mut cells = vec![Value::from(crate::name(obj))];
            cells.extend(columns.iter().map(|c| cell(obj, c, &ctx)));
            json!({"cells": cells, "object": row_object(obj, include)})
        })
        .collect();
    let definitions = if with_columns {
        definitions
    } else {
        Vec::new()
    };
    crate::table_of(definitions, rows, resource_version, continue_token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, ty: &str, path: &str) -> CustomColumn {
        CustomColumn {
            name: name.to_owned(),
            type_: ty.to_owned(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: path.to_owned(),
        }
    }

    #[test]
    fn cells_follow_json_paths() {
        let obj = json!({
            "metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"replicas": 3, "hosts": ["x", "y"]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        });
        let columns = vec![
            column("Replicas", "integer", ".spec.replicas"),
            column("Hosts", "string", ".spec.hosts[*]"),
            column("Ready", "string", ".status.conditions[0].status"),
            column(
                "App",
                "string",
                ".metadata.labels.app\\.kubernetes\\.io/name",
            ),
            column("Missing", "string", ".spec.nothing"),
        ];
        let table = custom_table(
            &columns,
            &[obj],
            crate::IncludeObject::None,
            true,
            "5",
            None,
            std::time::SystemTime::now(),
        );
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["a", 3, "x,y", "True", "web", null])
        );
        assert_eq!(table["columnDefinitions"][1]["name"], "Replicas");
    }

    #[test]
    fn without_columns_the_table_shows_the_age() {
        let obj = json!({"metadata": {"name": "a", "creationTimestamp": "2020-01-01T00:00:00Z"}});
        let table = custom_table(
            &[],
            &[obj],
            crate::IncludeObject::None,
            true,
            "",
            None,
            std::time::SystemTime::now(),
        );
        assert_eq!(table["columnDefinitions"][1]["name"], "Age");
        assert!(table["rows"][0]["cells"][1].as_str().unwrap().contains('y'));
    }
}
