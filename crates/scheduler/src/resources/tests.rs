use super::*;
use k8s_openapi::api::core::v1::{NodeStatus, PodSpec, ResourceRequirements};

fn q(s: &str) -> Quantity {
    Quantity(s.to_string())
}

#[test]
fn milli_values() {
    let cases: &[(&str, i64)] = &[
        ("100m", 100),
        ("1", 1000),
        ("0.1", 100),
        ("0.5", 500),
        ("1.5", 1500),
        ("2", 2000),
        ("1e3", 1_000_000),
        ("1k", 1_000_000),
        ("0.0001", 1), // rounds up
        ("1n", 1),     // rounds up
        ("1500u", 2),  // 1.5m rounds up
        ("1000u", 1),
        ("250000n", 1), // 0.25m rounds up
        ("-100m", -100),
        ("+2", 2000),
        (".5", 500),
        ("1.", 1000),
        ("0", 0),
        ("0m", 0),
        ("1E-3", 1),
        ("5e-1", 500),
    ];
    for (input, want) in cases {
        assert_eq!(milli_value(input), Ok(*want), "milli_value({input:?})");
    }
}

#[test]
fn values() {
    let cases: &[(&str, i64)] = &[
        ("1.5Gi", 1_610_612_736),
        ("1Gi", 1_073_741_824),
        ("128Mi", 134_217_728),
        ("1Ki", 1024),
        ("1Ti", 1_099_511_627_776),
        ("1Pi", 1_125_899_906_842_624),
        ("1Ei", 1_152_921_504_606_846_976),
        ("1e3", 1000),
        ("1E6", 1_000_000),
        ("1k", 1000),
        ("1M", 1_000_000),
        ("1G", 1_000_000_000),
        ("1T", 1_000_000_000_000),
        ("1P", 1_000_000_000_000_000),
        ("1E", 1_000_000_000_000_000_000),
        ("110", 110),
        ("100m", 1),  // rounds up
        ("0.5", 1),   // rounds up
        ("1001m", 2), // rounds up
        ("1000m", 1),
        ("0.5Ki", 512),
        ("8Ei", i64::MAX), // capped
        ("1e30", i64::MAX),
        ("-1.5", -2), // away from zero
        (" 2 ", 2),
    ];
    for (input, want) in cases {
        assert_eq!(value(input), Ok(*want), "value({input:?})");
    }
}

#[test]
fn invalid_quantities() {
    for input in [
        "", "abc", "1x", "1.5.5", "Gi", "1 Gi", "1e", "1e+", "--1", "1Kii", ".", "1ki",
    ] {
        assert!(parse_nanos(input).is_err(), "{input:?} should not parse");
    }
    assert_eq!(parse_nanos("12x"), Err(QuantityError::Suffix));
    assert_eq!(parse_nanos("x"), Err(QuantityError::Format));
}

#[test]
fn scalar_names() {
    assert!(is_scalar_resource_name("nvidia.com/gpu"));
    assert!(is_scalar_resource_name("hugepages-2Mi"));
    assert!(is_scalar_resource_name("attachable-volumes-aws-ebs"));
    assert!(is_scalar_resource_name("kubernetes.io/foo"));
    assert!(!is_scalar_resource_name("cpu"));
    assert!(!is_scalar_resource_name("foo"));
    assert!(!is_scalar_resource_name("requests.example.com/foo"));
}

fn container(name: &str, reqs: &[(&str, &str)], restart: Option<&str>) -> Container {
    Container {
        name: name.into(),
        restart_policy: restart.map(String::from),
        resources: Some(ResourceRequirements {
            requests: if reqs.is_empty() {
                None
            } else {
                Some(reqs.iter().map(|(k, v)| (k.to_string(), q(v))).collect())
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pod(containers: Vec<Container>, init: Vec<Container>, overhead: &[(&str, &str)]) -> Pod {
    Pod {
        spec: Some(PodSpec {
            containers,
            init_containers: if init.is_empty() { None } else { Some(init) },
            overhead: if overhead.is_empty() {
                None
            } else {
                Some(
                    overhead
                        .iter()
                        .map(|(k, v)| (k.to_string(), q(v)))
                        .collect(),
                )
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn pod_requests_containers_and_init() {
    // Upstream's example: init 2/1G and 2/3G, containers 2/1G and 1/1G => cpu 3, memory 3G.
    let p = pod(
        vec![
            container("c1", &[("cpu", "2"), ("memory", "1G")], None),
            container("c2", &[("cpu", "1"), ("memory", "1G")], None),
        ],
        vec![
            container("i1", &[("cpu", "2"), ("memory", "1G")], None),
            container("i2", &[("cpu", "2"), ("memory", "3G")], None),
        ],
        &[],
    );
    let r = pod_requests(&p);
    assert_eq!(r.milli_cpu, 3000);
    assert_eq!(r.memory, 3_000_000_000);

    let p = pod(
        vec![container("c", &[("cpu", "1")], None)],
        vec![container(
            "i",
            &[("cpu", "4"), ("nvidia.com/gpu", "1")],
            None,
        )],
        &[],
    );
    let r = pod_requests(&p);
    assert_eq!(r.milli_cpu, 4000);
    assert_eq!(r.scalar.get("nvidia.com/gpu"), Some(&1));
}

#[test]
fn pod_requests_sidecars() {
    // sidecar 1 cpu starts first, then a regular init container 2 cpu (phase = 3),
    // then containers 1 cpu: running = 1 + 1 (sidecar) = 2, max(2, 3) = 3.
    let p = pod(
        vec![container("c", &[("cpu", "1")], None)],
        vec![
            container("s", &[("cpu", "1")], Some("Always")),
            container("i", &[("cpu", "2")], None),
        ],
        &[],
    );
    assert_eq!(pod_requests(&p).milli_cpu, 3000);

    // regular init container before the sidecar: phases 2 and 1; running 1 + 1 = 2.
    let p = pod(
        vec![container("c", &[("cpu", "1")], None)],
        vec![
            container("i", &[("cpu", "2")], None),
            container("s", &[("cpu", "1")], Some("Always")),
        ],
        &[],
    );
    assert_eq!(pod_requests(&p).milli_cpu, 2000);

    // big sidecar dominates.
    let p = pod(
        vec![container("c", &[("memory", "100Mi")], None)],
        vec![container("s", &[("memory", "1Gi")], Some("Always"))],
        &[],
    );
    assert_eq!(
        pod_requests(&p).memory,
        1024 * 1024 * 1024 + 100 * 1024 * 1024
    );
}

#[test]
fn pod_requests_overhead_and_exact_sums() {
    let p = pod(
        vec![
            container("a", &[("cpu", "100m"), ("memory", "64Mi")], None),
            container("b", &[("cpu", "0.5m")], None),
            container("c", &[("cpu", "0.5m")], None),
        ],
        vec![],
        &[("cpu", "250m"), ("memory", "120Mi")],
    );
    let r = pod_requests(&p);
    // 100m + 0.5m + 0.5m = 101m exactly, plus 250m overhead.
    assert_eq!(r.milli_cpu, 351);
    assert_eq!(r.memory, 184 * 1024 * 1024);
}

#[test]
fn non_zero_defaults() {
    let p = pod(
        vec![
            container("a", &[], None),
            container("b", &[("cpu", "0")], None),
            container("c", &[("memory", "1Gi")], None),
        ],
        vec![],
        &[],
    );
    let nz = non_zero_requests(&p);
    // a: 100m + 200Mi; b: 0 cpu (explicit) + 200Mi; c: 100m + 1Gi
    assert_eq!(nz.milli_cpu, 200);
    assert_eq!(nz.memory, 2 * 200 * 1024 * 1024 + 1024 * 1024 * 1024);
    let r = pod_requests(&p);
    assert_eq!(r.milli_cpu, 0);
    assert_eq!(r.memory, 1024 * 1024 * 1024);
}

#[test]
fn pod_level_requests_override() {
    let mut p = pod(vec![container("a", &[("cpu", "1")], None)], vec![], &[]);
    if let Some(spec) = p.spec.as_mut() {
        spec.resources = Some(ResourceRequirements {
            requests: Some([("cpu".to_string(), q("2"))].into_iter().collect()),
            ..Default::default()
        });
    }
    assert_eq!(pod_requests(&p).milli_cpu, 2000);
    let nz = non_zero_requests(&p);
    assert_eq!(nz.milli_cpu, 2000);
    assert_eq!(nz.memory, DEFAULT_MEMORY_REQUEST);
}

#[test]
fn allocatable_falls_back_to_capacity() {
    let list = |pairs: &[(&str, &str)]| -> BTreeMap<String, Quantity> {
        pairs.iter().map(|(k, v)| (k.to_string(), q(v))).collect()
    };
    let mut node = Node {
        status: Some(NodeStatus {
            capacity: Some(list(&[("cpu", "4"), ("memory", "8Gi"), ("pods", "110")])),
            ..Default::default()
        }),
        ..Default::default()
    };
    let a = node_allocatable(&node);
    assert_eq!(
        (a.milli_cpu, a.memory, a.allowed_pod_number),
        (4000, 8 << 30, 110)
    );
    if let Some(s) = node.status.as_mut() {
        s.allocatable = Some(list(&[
            ("cpu", "3500m"),
            ("example.com/foo", "3"),
            ("bogus", "1"),
        ]));
    }
    let a = node_allocatable(&node);
    assert_eq!(a.milli_cpu, 3500);
    assert_eq!(a.memory, 0);
    assert_eq!(
        a.scalar,
        [("example.com/foo".to_string(), 3)].into_iter().collect()
    );
    assert_eq!(node_allocatable(&Node::default()), Resources::default());
}

#[test]
fn insufficient_order_and_reasons() {
    let alloc = Resources {
        milli_cpu: 1000,
        memory: 1000,
        ephemeral_storage: 10,
        allowed_pod_number: 1,
        scalar: [("example.com/gpu".to_string(), 1)].into_iter().collect(),
    };
    let used = Resources {
        milli_cpu: 500,
        memory: 200,
        ..Default::default()
    };
    let want = Resources {
        milli_cpu: 600,
        memory: 900,
        ephemeral_storage: 11,
        scalar: [("example.com/gpu".to_string(), 2)].into_iter().collect(),
        ..Default::default()
    };
    let reasons: Vec<String> = want
        .insufficient(&used, &alloc, 1)
        .into_iter()
        .map(|r| r.reason)
        .collect();
    assert_eq!(
        reasons,
        vec![
            "Too many pods",
            "Insufficient cpu",
            "Insufficient memory",
            "Insufficient ephemeral-storage",
            "Insufficient example.com/gpu"
        ]
    );
    let small = Resources {
        milli_cpu: 500,
        memory: 800,
        ..Default::default()
    };
    assert!(small.fits(&used, &alloc, 0));
    let mut sum = used.clone();
    sum.add(&small);
    assert_eq!((sum.milli_cpu, sum.memory), (1000, 1000));
    sum.sub(&small);
    assert_eq!(sum, used);
}
