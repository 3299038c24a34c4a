//! The documentation of the Kubernetes API's messages and fields, from the comments of
//! upstream's `.proto` files (which carry the Go types' doc comments), for OpenAPI
//! descriptions and so `kubectl explain`.

use std::collections::HashMap;
use std::sync::OnceLock;

/// `message\tfield\ttext` lines (field empty for the message itself; `\n` in the text is
/// an escaped newline), written by `build.rs`.
const TABLE: &str = include_str!(concat!(env!("OUT_DIR"), "/descriptions.tsv"));

fn table() -> &'static HashMap<(&'static str, &'static str), &'static str> {
    static PARSED: OnceLock<HashMap<(&str, &str), &str>> = OnceLock::new();
    PARSED.get_or_init(|| {
        TABLE
            .lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, '\t');
                Some(((parts.next()?, parts.next()?), parts.next()?))
            })
            .collect()
    })
}

/// The documentation of a message (`field` empty) or of one of its fields, by the
/// message's full protobuf name (`k8s.io.api.core.v1.PodSpec`).
pub fn description(message: &str, field: &str) -> Option<String> {
    table()
        .get(&(message, field))
        .map(|text| text.replace("\\n", "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_messages_are_documented_without_tags() {
        let replicas = description("k8s.io.api.apps.v1.DeploymentSpec", "replicas").unwrap();
        assert!(
            replicas.starts_with("Number of desired pods."),
            "{replicas}"
        );
        assert!(!replicas.contains("+optional"), "{replicas}");
        let pod = description("k8s.io.api.core.v1.Pod", "").unwrap();
        assert!(pod.contains("collection of containers"), "{pod}");
        assert!(description("k8s.io.api.core.v1.Pod", "nope").is_none());
    }
}
