//! Decodes the bodies kubectl sends (`tests/fixtures/*.pb`) and checks the error cases.

mod common;

use common::{body, decode, decode_err, field, fixture, unknown, varint_field};
use rkube_protobuf::{Codec, DecodeError};
use serde_json::json;

/// `metadata` as kubectl writes it for a namespaced object.
fn meta(name: &str) -> serde_json::Value {
    json!({"name": name, "namespace": "demo", "creationTimestamp": null})
}

#[test]
fn namespace() {
    assert_eq!(
        decode(&fixture("namespace")),
        json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "demo", "creationTimestamp": null},
            "spec": {}, "status": {}
        })
    );
}

#[test]
fn configmap() {
    assert_eq!(
        decode(&fixture("configmap")),
        json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("settings"),
            "data": {"empty": "", "mode": "fast", "multi": "line one\nline two"}
        })
    );
}

#[test]
fn secret_data_is_base64() {
    assert_eq!(
        decode(&fixture("secret")),
        json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": meta("creds"),
            "data": {"password": "czNjcjN0IQ==", "username": "YWRtaW4="}
        })
    );
}

#[test]
fn deployment() {
    assert_eq!(
        decode(&fixture("deployment")),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo", "creationTimestamp": null,
                         "labels": {"app": "web"}},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {},
                "template": {
                    "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "nginx", "image": "nginx:1.27",
                        "ports": [{"containerPort": 80}], "resources": {}
                    }]}
                }
            },
            "status": {}
        })
    );
}

#[test]
fn service_clusterip_target_ports() {
    assert_eq!(
        decode(&fixture("service-clusterip")),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "demo", "creationTimestamp": null,
                         "labels": {"app": "web"}},
            "spec": {
                "ports": [
                    {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                    {"name": "443-https", "protocol": "TCP", "port": 443, "targetPort": "https"}
                ],
                "selector": {"app": "web"},
                "type": "ClusterIP"
            },
            "status": {"loadBalancer": {}}
        })
    );
}

#[test]
fn service_nodeport() {
    assert_eq!(
        decode(&fixture("service-nodeport")),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "np", "namespace": "demo", "creationTimestamp": null,
                         "labels": {"app": "np"}},
            "spec": {
                "ports": [{"name": "8080-http", "protocol": "TCP", "port": 8080,
                           "targetPort": "http", "nodePort": 30080}],
                "selector": {"app": "np"},
                "type": "NodePort"
            },
            "status": {"loadBalancer": {}}
        })
    );
}

#[test]
fn serviceaccount() {
    assert_eq!(
        decode(&fixture("serviceaccount")),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("robot")})
    );
}

#[test]
fn job() {
    assert_eq!(
        decode(&fixture("job")),
        json!({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": meta("once"),
            "spec": {"template": {
                "metadata": {"creationTimestamp": null},
                "spec": {
                    "containers": [{"name": "once", "image": "busybox",
                                    "command": ["echo", "hi"], "resources": {}}],
                    "restartPolicy": "Never"
                }
            }},
            "status": {}
        })
    );
}

#[test]
fn cronjob() {
    assert_eq!(
        decode(&fixture("cronjob")),
        json!({
            "apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta("nightly"),
            "spec": {
                "schedule": "0 3 * * *",
                "jobTemplate": {
                    "metadata": {"name": "nightly", "creationTimestamp": null},
                    "spec": {"template": {
                        "metadata": {"creationTimestamp": null},
                        "spec": {
                            "containers": [{"name": "nightly", "image": "busybox",
                                            "command": ["date"], "resources": {}}],
                            "restartPolicy": "OnFailure"
                        }
                    }}
                }
            },
            "status": {}
        })
    );
}

#[test]
fn ingress() {
    assert_eq!(
        decode(&fixture("ingress")),
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta("ing"),
            "spec": {"rules": [{
                "host": "example.com",
                "http": {"paths": [{
                    "path": "/path", "pathType": "Prefix",
                    "backend": {"service": {"name": "svc", "port": {"number": 8080}}}
                }]}
            }]},
            "status": {"loadBalancer": {}}
        })
    );
}

#[test]
fn poddisruptionbudget() {
    // The status counters have no `omitempty` in Go, so their zeros are written.
    assert_eq!(
        decode(&fixture("poddisruptionbudget")),
        json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta("pdb"),
            "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}},
            "status": {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0,
                       "expectedPods": 0}
        })
    );
}

#[test]
fn priorityclass() {
    assert_eq!(
        decode(&fixture("priorityclass")),
        json!({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": "high", "creationTimestamp": null},
            "value": 1000, "description": "important",
            "preemptionPolicy": "PreemptLowerPriority"
        })
    );
}

#[test]
fn resourcequota_quantities() {
    assert_eq!(
        decode(&fixture("resourcequota")),
        json!({
            "apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta("q"),
            "spec": {"hard": {"cpu": "1500m", "memory": "2Gi", "pods": "10"}},
            "status": {}
        })
    );
}

#[test]
fn role() {
    assert_eq!(
        decode(&fixture("role")),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": meta("reader"),
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
        })
    );
}

#[test]
fn builtin_is_shared() {
    assert!(std::ptr::eq(Codec::builtin(), Codec::builtin()));
}

#[test]
fn bad_magic() {
    let mut body = fixture("configmap");
    body[0] = b'K';
    let err = Codec::builtin().decode(&body);
    assert!(matches!(err, Err(DecodeError::NotProtobuf)), "{err:?}");
    assert_eq!(
        decode_err(b"{\"kind\":\"ConfigMap\"}"),
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    );
    assert!(matches!(
        Codec::builtin().decode(b""),
        Err(DecodeError::NotProtobuf)
    ));
    assert!(matches!(
        Codec::builtin().decode(b"k8s"),
        Err(DecodeError::NotProtobuf)
    ));
}

#[test]
fn truncated_envelope() {
    let full = fixture("deployment");
    let err = decode_err(&full[..full.len() - 10]);
    assert!(
        err.starts_with("unable to decode the protobuf envelope: "),
        "{err}"
    );
}

#[test]
fn truncated_object() {
    let full = fixture("deployment");
    // The envelope: magic, typeMeta (tag, length, bytes), then raw (tag 0x12, length 193).
    let start = 4 + 2 + usize::from(full[5]) + 3;
    assert_eq!(
        full[start - 3..start],
        [0x12, 0xc1, 0x01],
        "raw's tag and length"
    );
    let raw = &full[start..start + 193];
    let err = decode_err(&body("apps/v1", "Deployment", &raw[..raw.len() - 5]));
    assert!(
        err.starts_with("unable to decode apps/v1, Kind=Deployment: "),
        "{err}"
    );
    assert_eq!(
        decode(&body("apps/v1", "Deployment", raw)),
        decode(&full),
        "the untruncated object decodes"
    );
}

#[test]
fn unknown_kind() {
    let err = Codec::builtin().decode(&body("x/v1", "Foo", b""));
    match err {
        Err(DecodeError::UnknownKind { kind, version }) => {
            assert_eq!((kind.as_str(), version.as_str()), ("Foo", "x/v1"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decode_err(&body("x/v1", "Foo", b"")),
        "no kind \"Foo\" is registered for version \"x/v1\""
    );
    assert_eq!(
        decode_err(&body("v1", "Deployment", b"")),
        "no kind \"Deployment\" is registered for version \"v1\""
    );
    // Parts of objects are not kinds.
    assert_eq!(
        decode_err(&body("v1", "PodSpec", b"")),
        "no kind \"PodSpec\" is registered for version \"v1\""
    );
}

#[test]
fn missing_type_meta() {
    let mut envelope = b"k8s\0".to_vec();
    field(2, b"", &mut envelope);
    assert_eq!(
        decode_err(&envelope),
        "Object 'Kind' is missing in the protobuf envelope"
    );
    assert_eq!(
        decode_err(&body("", "ConfigMap", b"")),
        "Object 'apiVersion' is missing in the protobuf envelope"
    );
}

#[test]
fn content_encoding_is_refused() {
    let mut gzip = b"k8s\0".to_vec();
    gzip.extend(unknown("v1", "ConfigMap", b"", "gzip"));
    assert_eq!(
        decode_err(&gzip),
        "unsupported content encoding \"gzip\" in the protobuf envelope"
    );
}

#[test]
fn empty_object() {
    assert_eq!(
        decode(&body("v1", "ConfigMap", b"")),
        json!({"apiVersion": "v1", "kind": "ConfigMap"})
    );
}

#[test]
fn delete_options() {
    let mut raw = Vec::new();
    varint_field(1, 0, &mut raw); // gracePeriodSeconds: 0 (a pointer: kept)
    field(4, b"Foreground", &mut raw); // propagationPolicy
    assert_eq!(
        decode(&body("v1", "DeleteOptions", &raw)),
        json!({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
               "propagationPolicy": "Foreground"})
    );
}

#[test]
fn wrong_wire_type_is_an_error() {
    // ConfigMap field 1 (metadata) as a varint instead of a message.
    let mut raw = Vec::new();
    varint_field(1, 7, &mut raw);
    let err = decode_err(&body("v1", "ConfigMap", &raw));
    assert!(
        err.starts_with("unable to decode v1, Kind=ConfigMap: "),
        "{err}"
    );
}

/// Every truncation and every single-byte corruption of every fixture decodes or fails cleanly.
#[test]
fn never_panics_on_damaged_bodies() {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pb"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 14);
    let codec = Codec::builtin();
    for path in names {
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        for len in 0..body.len() {
            let _ = codec.decode(&body[..len]);
        }
        for i in 4..body.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut damaged = body.clone();
                damaged[i] ^= flip;
                let _ = codec.decode(&damaged);
            }
        }
    }
}
