//! Shared helpers: lenient JSON access and upstream's cell formatters
//! (labels, label selectors, container lists, "+ N more..." lists).

use serde_json::Value;

/// A string field, or "" when absent or not a string.
pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// A string field, or `default` when absent or empty.
pub(crate) fn s_or<'a>(v: &'a Value, default: &'a str) -> &'a str {
    match v.as_str() {
        Some(x) if !x.is_empty() => x,
        _ => default,
    }
}

/// An integer field, or 0 when absent or not a number.
pub(crate) fn int(v: &Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
        .or_else(|| v.as_f64().map(|f| f as i64))
        .unwrap_or(0)
}

/// An integer field that the API defaults when unset (e.g. `spec.replicas` to 1).
pub(crate) fn int_or(v: &Value, default: i64) -> i64 {
    if v.is_number() { int(v) } else { default }
}

/// An array field, or an empty slice.
pub(crate) fn arr(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// The number of entries of a map field (0 when absent).
pub(crate) fn map_len(v: &Value) -> usize {
    v.as_object().map_or(0, serde_json::Map::len)
}

/// Whether a field is set (present and not null), like a non-nil Go pointer.
pub(crate) fn is_set(v: &Value) -> bool {
    !v.is_null()
}

/// Whether a bool field is true.
pub(crate) fn truthy(v: &Value) -> bool {
    v.as_bool().unwrap_or(false)
}

/// Upstream's `printBool`.
pub(crate) fn print_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// `labels.FormatLabels`: "k1=v1,k2=v2" sorted by key, `<none>` when empty.
pub(crate) fn format_labels(map: &Value) -> String {
    let Some(m) = map.as_object() else {
        return "<none>".to_owned();
    };
    let mut pairs: Vec<(&String, &str)> = m.iter().map(|(k, v)| (k, s(v))).collect();
    pairs.sort();
    let out = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    if out.is_empty() {
        "<none>".to_owned()
    } else {
        out
    }
}

/// `metav1.LabelSelectorAsSelector(sel).String()`: requirements sorted by key,
/// "app=web,env in (a,b),!gone,tier notin (db)". A nil or empty selector gives "".
/// Errs on operators or value counts the API rejects.
pub(crate) fn label_selector_string(sel: &Value) -> Result<String, ()> {
    if !sel.is_object() {
        return Ok(String::new());
    }
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(m) = sel["matchLabels"].as_object() {
        for (k, v) in m {
            reqs.push((k.clone(), format!("{k}={}", s(v))));
        }
    }
    for expr in arr(&sel["matchExpressions"]) {
        let key = s(&expr["key"]);
        if key.is_empty() {
            return Err(());
        }
        let mut values: Vec<&str> = arr(&expr["values"]).iter().map(s).collect();
        values.sort_unstable();
        let text = match s(&expr["operator"]) {
            "In" | "NotIn" if values.is_empty() => return Err(()),
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" | "DoesNotExist" if !values.is_empty() => return Err(()),
            "Exists" => key.to_owned(),
            "DoesNotExist" => format!("!{key}"),
            _ => return Err(()),
        };
        reqs.push((key.to_owned(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(","))
}

/// `metav1.FormatLabelSelector`: the selector string, `<none>` when it selects
/// everything or nothing, `<error>` when invalid.
pub(crate) fn format_label_selector(sel: &Value) -> String {
    match label_selector_string(sel) {
        Ok(text) if text.is_empty() => "<none>".to_owned(),
        Ok(text) => text,
        Err(()) => "<error>".to_owned(),
    }
}

/// `layoutContainerCells`: container names and images, each comma-joined.
pub(crate) fn container_cells(pod_spec: &Value) -> (String, String) {
    let containers = arr(&pod_spec["containers"]);
    let names: Vec<&str> = containers.iter().map(|c| s(&c["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(&c["image"])).collect();
    (names.join(","), images.join(","))
}

/// `listWithMoreString`: at most `max` entries then "+ N more...", `<unset>` when empty.
pub(crate) fn list_with_more(list: &[String], total: usize, max: usize) -> String {
    let shown = &list[..list.len().min(max)];
    let ret = shown.join(",");
    if total > max {
        return format!("{ret} + {} more...", total - max);
    }
    if ret.is_empty() {
        "<unset>".to_owned()
    } else {
        ret
    }
}

/// `net.JoinHostPort`: brackets IPv6 hosts.
pub(crate) fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `IntOrString.String()`.
pub(crate) fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Number(_) => int(v).to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_sorted_or_none() {
        assert_eq!(
            format_labels(&json!({"tier": "web", "app": "x"})),
            "app=x,tier=web"
        );
        assert_eq!(format_labels(&json!({})), "<none>");
        assert_eq!(format_labels(&Value::Null), "<none>");
    }

    #[test]
    fn selectors_like_upstream() {
        let sel = json!({
            "matchLabels": {"tier": "web", "app": "x"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "db", "operator": "NotIn", "values": ["mysql"]},
                {"key": "gone", "operator": "DoesNotExist"},
                {"key": "canary", "operator": "Exists"}
            ]
        });
        assert_eq!(
            format_label_selector(&sel),
            "app=x,canary,db notin (mysql),env in (dev,prod),!gone,tier=web"
        );
        assert_eq!(format_label_selector(&json!({})), "<none>");
        assert_eq!(format_label_selector(&Value::Null), "<none>");
        assert_eq!(
            format_label_selector(
                &json!({"matchExpressions": [{"key": "a", "operator": "Bogus"}]})
            ),
            "<error>"
        );
        assert_eq!(
            format_label_selector(&json!({"matchExpressions": [{"key": "a", "operator": "In"}]})),
            "<error>"
        );
    }

    #[test]
    fn more_lists() {
        let l: Vec<String> = ["a", "b", "c", "d"].iter().map(|x| x.to_string()).collect();
        assert_eq!(list_with_more(&l, 4, 3), "a,b,c + 1 more...");
        assert_eq!(list_with_more(&l[..2], 2, 3), "a,b");
        assert_eq!(list_with_more(&[], 0, 3), "<unset>");
    }
}
