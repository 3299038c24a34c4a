use super::*;

fn weights(p: &Profile) -> Vec<(&'static str, i64)> {
    p.score_weights()
        .iter()
        .map(|w| (w.name, w.weight))
        .collect()
}

#[test]
fn parse_yaml_and_json() {
    let yaml = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
leaderElection:
  leaderElect: false
profiles:
  - schedulerName: my-scheduler
    plugins:
      score:
        disabled:
          - name: ImageLocality
        enabled:
          - name: NodeAffinity
            weight: 7
      filter:
        disabled:
          - name: NodePorts
"#;
    let cfg = KubeSchedulerConfiguration::parse(yaml).unwrap();
    assert_eq!(cfg.percentage_of_nodes_to_score, Some(30));
    let p = cfg.build_first_profile().unwrap();
    assert_eq!(p.scheduler_name, "my-scheduler");
    assert_eq!(p.percentage_of_nodes_to_score, Some(30));
    assert!(!p.filter_names().contains(&"NodePorts"));
    // NodePorts is still a PreFilter plugin (disabled for filter only)
    assert!(p.pre_filter_names().contains(&"NodePorts"));
    assert_eq!(
        weights(&p),
        vec![
            ("NodeAffinity", 7),
            ("TaintToleration", 3),
            ("NodeResourcesFit", 1),
            ("PodTopologySpread", 2),
            ("InterPodAffinity", 2),
            ("NodeResourcesBalancedAllocation", 1),
        ]
    );

    let json = r#"{"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
        "profiles": [{"plugins": {"multiPoint": {"enabled": [{"name": "TaintToleration", "weight": 10}]}}}]}"#;
    let p = KubeSchedulerConfiguration::parse(json)
        .unwrap()
        .build_first_profile()
        .unwrap();
    assert_eq!(p.scheduler_name, "default-scheduler");
    assert_eq!(weights(&p)[0], ("TaintToleration", 10));
    assert_eq!(p.percentage_of_nodes_to_score, None);
}

#[test]
fn disable_all_and_enable_some() {
    let yaml = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
  - plugins:
      score:
        disabled:
          - name: "*"
        enabled:
          - name: NodeResourcesBalancedAllocation
          - name: ImageLocality
            weight: 5
      filter:
        disabled:
          - name: "*"
        enabled:
          - name: NodeName
"#;
    let p = KubeSchedulerConfiguration::parse(yaml)
        .unwrap()
        .build_first_profile()
        .unwrap();
    assert_eq!(p.filter_names(), vec!["NodeName"]);
    assert_eq!(
        weights(&p),
        vec![("NodeResourcesBalancedAllocation", 1), ("ImageLocality", 5)]
    );

    let yaml = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
  - plugins:
      multiPoint:
        disabled:
          - name: "*"
        enabled:
          - name: NodeResourcesFit
          - name: TaintToleration
            weight: 4
"#;
    let p = KubeSchedulerConfiguration::parse(yaml)
        .unwrap()
        .build_first_profile()
        .unwrap();
    assert_eq!(
        p.filter_names(),
        vec!["NodeResourcesFit", "TaintToleration"]
    );
    assert_eq!(p.pre_filter_names(), vec!["NodeResourcesFit"]);
    assert_eq!(
        weights(&p),
        vec![("NodeResourcesFit", 1), ("TaintToleration", 4)]
    );
}

#[test]
fn multi_point_disable_one() {
    let yaml = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
  - schedulerName: a
    plugins:
      multiPoint:
        disabled:
          - name: PodTopologySpread
          - name: DefaultPreemption
  - schedulerName: b
"#;
    let profiles = KubeSchedulerConfiguration::parse(yaml)
        .unwrap()
        .build_profiles()
        .unwrap();
    assert_eq!(profiles.len(), 2);
    assert!(!profiles[0].filter_names().contains(&"PodTopologySpread"));
    assert!(!profiles[0].pre_score_names().contains(&"PodTopologySpread"));
    assert!(profiles[1].filter_names().contains(&"PodTopologySpread"));
    assert_eq!(profiles[1].scheduler_name, "b");
}

#[test]
fn errors() {
    let unknown = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
  - plugins:
      filter:
        enabled:
          - name: Bogus
        disabled:
          - name: AlsoBogus
"#;
    let err = KubeSchedulerConfiguration::parse(unknown)
        .unwrap()
        .build_profiles()
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::UnknownPlugins(vec!["AlsoBogus".into(), "Bogus".into()])
    );
    assert_eq!(err.to_string(), "unknown plugin(s): AlsoBogus, Bogus");

    let wrong_point = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
  - plugins:
      filter:
        enabled:
          - name: ImageLocality
"#;
    let err = KubeSchedulerConfiguration::parse(wrong_point)
        .unwrap()
        .build_profiles()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin \"ImageLocality\" does not extend FilterPlugin plugin"
    );

    let v1beta =
        "apiVersion: kubescheduler.config.k8s.io/v1beta3\nkind: KubeSchedulerConfiguration\n";
    assert!(matches!(
        KubeSchedulerConfiguration::parse(v1beta),
        Err(ConfigError::ApiVersion(_))
    ));
    let kind = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: Other\n";
    assert!(matches!(
        KubeSchedulerConfiguration::parse(kind),
        Err(ConfigError::Kind(_))
    ));
    let pct = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\npercentageOfNodesToScore: 101\n";
    assert!(matches!(
        KubeSchedulerConfiguration::parse(pct),
        Err(ConfigError::Invalid(_))
    ));
    assert!(matches!(
        KubeSchedulerConfiguration::parse("profiles: [: "),
        Err(ConfigError::Parse(_))
    ));
    let dup = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: x\n- schedulerName: x\n";
    assert!(matches!(
        KubeSchedulerConfiguration::parse(dup)
            .unwrap()
            .build_profiles(),
        Err(ConfigError::Invalid(_))
    ));
}

#[test]
fn no_profiles_gives_default() {
    let cfg = KubeSchedulerConfiguration::parse(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n",
    )
    .unwrap();
    let p = cfg.build_first_profile().unwrap();
    assert_eq!(p.scheduler_name, DEFAULT_SCHEDULER_NAME);
    assert_eq!(weights(&p), weights(&Profile::default_profile()));
}

#[test]
fn feasible_nodes_to_find() {
    assert_eq!(num_feasible_nodes_to_find(None, 50), 50);
    assert_eq!(num_feasible_nodes_to_find(None, 99), 99);
    // adaptive: 50 - 1000/125 = 42% of 1000
    assert_eq!(num_feasible_nodes_to_find(None, 1000), 420);
    assert_eq!(num_feasible_nodes_to_find(Some(0), 1000), 420);
    // adaptive floor 5%: 5000 nodes -> 50 - 40 = 10%; 6000 -> 2 -> 5%
    assert_eq!(num_feasible_nodes_to_find(None, 5000), 500);
    assert_eq!(num_feasible_nodes_to_find(None, 6000), 300);
    assert_eq!(num_feasible_nodes_to_find(Some(10), 500), 100);
    assert_eq!(num_feasible_nodes_to_find(Some(5), 500), 100);
    assert_eq!(num_feasible_nodes_to_find(Some(100), 500), 500);
}
