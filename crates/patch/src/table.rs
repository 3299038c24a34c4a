//! The hand-written strategic-merge table of the built-in kinds: the `patchStrategy` and
//! `patchMergeKey` tags of upstream's API types (k8s.io/api, k8s.io/apimachinery's ObjectMeta,
//! the apiextensions and kube-aggregator types), plus the nested objects that lead to them.
//!
//! Fields that carry no tag and lead to no tagged field are left out: they behave as in a JSON
//! merge patch, which is what upstream does for them too. Element definitions named here but not
//! defined in [`DEFINITIONS`] simply have no tagged fields.

use crate::schema::{Definition, Field, def, merge, merge_retain, obj, obj_with, set};

const OBJECT_META: &str = meta!("ObjectMeta");
const POD_TEMPLATE_SPEC: &str = core!("PodTemplateSpec");
const CONDITION: &str = meta!("Condition");

/// A kind with nothing but its `metadata`.
const META_ONLY: &[Field] = &[obj("metadata", OBJECT_META)];

/// A kind whose only tagged field below `metadata` is `status.conditions`.
macro_rules! with_status {
    ($status:expr) => {
        &[obj("metadata", OBJECT_META), obj("status", $status)]
    };
}

/// A kind with `metadata`, `spec` and `status`.
macro_rules! spec_status {
    ($spec:expr, $status:expr) => {
        &[
            obj("metadata", OBJECT_META),
            obj("spec", $spec),
            obj("status", $status),
        ]
    };
}

/// A status (or other object) whose only tagged field is `conditions`, merged by `type`.
macro_rules! conditions {
    ($name:expr, $cond:expr) => {
        def($name, &[merge("conditions", $cond, "type")])
    };
}

/// A spec whose only tagged path is `template` (a pod template).
macro_rules! templated {
    ($name:expr) => {
        def($name, &[obj("template", POD_TEMPLATE_SPEC)])
    };
}

const CONTAINER_FIELDS: &[Field] = &[
    merge("ports", core!("ContainerPort"), "containerPort"),
    merge("env", core!("EnvVar"), "name"),
    merge("volumeMounts", core!("VolumeMount"), "mountPath"),
    merge("volumeDevices", core!("VolumeDevice"), "devicePath"),
];

/// Every definition of the table.
pub(crate) static DEFINITIONS: &[Definition] = &[
    // meta/v1
    def(
        OBJECT_META,
        &[
            set("finalizers"),
            merge("ownerReferences", meta!("OwnerReference"), "uid"),
        ],
    ),
    // core/v1: pods and their templates
    def(
        core!("Pod"),
        spec_status!(core!("PodSpec"), core!("PodStatus")),
    ),
    def(
        core!("PodSpec"),
        &[
            merge_retain("volumes", core!("Volume"), "name"),
            merge("initContainers", core!("Container"), "name"),
            merge("containers", core!("Container"), "name"),
            merge("ephemeralContainers", core!("EphemeralContainer"), "name"),
            merge("imagePullSecrets", core!("LocalObjectReference"), "name"),
            merge("hostAliases", core!("HostAlias"), "ip"),
            merge(
                "topologySpreadConstraints",
                core!("TopologySpreadConstraint"),
                "topologyKey",
            ),
            merge("schedulingGates", core!("PodSchedulingGate"), "name"),
            merge_retain("resourceClaims", core!("PodResourceClaim"), "name"),
        ],
    ),
    def(core!("Container"), CONTAINER_FIELDS),
    def(core!("EphemeralContainer"), CONTAINER_FIELDS),
    def(
        core!("Volume"),
        &[obj("ephemeral", core!("EphemeralVolumeSource"))],
    ),
    def(
        core!("EphemeralVolumeSource"),
        &[obj(
            "volumeClaimTemplate",
            core!("PersistentVolumeClaimTemplate"),
        )],
    ),
    def(core!("PersistentVolumeClaimTemplate"), META_ONLY),
    def(
        core!("PodStatus"),
        &[
            merge("conditions", core!("PodCondition"), "type"),
            merge("hostIPs", core!("HostIP"), "ip"),
            merge("podIPs", core!("PodIP"), "ip"),
            merge_retain(
                "resourceClaimStatuses",
                core!("PodResourceClaimStatus"),
                "name",
            ),
        ],
    ),
    def(
        core!("PodTemplate"),
        &[
            obj("metadata", OBJECT_META),
            obj("template", POD_TEMPLATE_SPEC),
        ],
    ),
    def(
        POD_TEMPLATE_SPEC,
        &[obj("metadata", OBJECT_META), obj("spec", core!("PodSpec"))],
    ),
    def(
        core!("ReplicationController"),
        spec_status!(
            core!("ReplicationControllerSpec"),
            core!("ReplicationControllerStatus")
        ),
    ),
    templated!(core!("ReplicationControllerSpec")),
    conditions!(
        core!("ReplicationControllerStatus"),
        core!("ReplicationControllerCondition")
    ),
    // core/v1: services, nodes, namespaces, volumes
    def(
        core!("Service"),
        spec_status!(core!("ServiceSpec"), core!("ServiceStatus")),
    ),
    def(
        core!("ServiceSpec"),
        &[merge("ports", core!("ServicePort"), "port")],
    ),
    conditions!(core!("ServiceStatus"), CONDITION),
    def(
        core!("ServiceAccount"),
        &[
            obj("metadata", OBJECT_META),
            merge("secrets", core!("ObjectReference"), "name"),
        ],
    ),
    def(
        core!("Node"),
        spec_status!(core!("NodeSpec"), core!("NodeStatus")),
    ),
    def(core!("NodeSpec"), &[set("podCIDRs")]),
    def(
        core!("NodeStatus"),
        &[
            merge("conditions", core!("NodeCondition"), "type"),
            merge("addresses", core!("NodeAddress"), "type"),
        ],
    ),
    def(core!("Namespace"), with_status!(core!("NamespaceStatus"))),
    conditions!(core!("NamespaceStatus"), core!("NamespaceCondition")),
    def(
        core!("PersistentVolumeClaim"),
        with_status!(core!("PersistentVolumeClaimStatus")),
    ),
    conditions!(
        core!("PersistentVolumeClaimStatus"),
        core!("PersistentVolumeClaimCondition")
    ),
    def(
        core!("ComponentStatus"),
        &[
            obj("metadata", OBJECT_META),
            merge("conditions", core!("ComponentCondition"), "type"),
        ],
    ),
    def(core!("ConfigMap"), META_ONLY),
    def(core!("Secret"), META_ONLY),
    def(core!("Endpoints"), META_ONLY),
    def(core!("Event"), META_ONLY),
    def(core!("PersistentVolume"), META_ONLY),
    def(core!("LimitRange"), META_ONLY),
    def(core!("ResourceQuota"), META_ONLY),
    def(core!("Binding"), META_ONLY),
    // apps/v1
    def(
        apps!("Deployment"),
        spec_status!(apps!("DeploymentSpec"), apps!("DeploymentStatus")),
    ),
    def(
        apps!("DeploymentSpec"),
        &[
            obj("template", POD_TEMPLATE_SPEC),
            obj_with("strategy", apps!("DeploymentStrategy"), "retainKeys"),
        ],
    ),
    conditions!(apps!("DeploymentStatus"), apps!("DeploymentCondition")),
    def(
        apps!("ReplicaSet"),
        spec_status!(apps!("ReplicaSetSpec"), apps!("ReplicaSetStatus")),
    ),
    templated!(apps!("ReplicaSetSpec")),
    conditions!(apps!("ReplicaSetStatus"), apps!("ReplicaSetCondition")),
    def(
        apps!("StatefulSet"),
        spec_status!(apps!("StatefulSetSpec"), apps!("StatefulSetStatus")),
    ),
    templated!(apps!("StatefulSetSpec")),
    conditions!(apps!("StatefulSetStatus"), apps!("StatefulSetCondition")),
    def(
        apps!("DaemonSet"),
        spec_status!(apps!("DaemonSetSpec"), apps!("DaemonSetStatus")),
    ),
    templated!(apps!("DaemonSetSpec")),
    conditions!(apps!("DaemonSetStatus"), apps!("DaemonSetCondition")),
    def(apps!("ControllerRevision"), META_ONLY),
    // batch/v1
    def(
        batch!("Job"),
        spec_status!(batch!("JobSpec"), batch!("JobStatus")),
    ),
    templated!(batch!("JobSpec")),
    conditions!(batch!("JobStatus"), batch!("JobCondition")),
    def(
        batch!("CronJob"),
        &[
            obj("metadata", OBJECT_META),
            obj("spec", batch!("CronJobSpec")),
        ],
    ),
    def(
        batch!("CronJobSpec"),
        &[obj("jobTemplate", batch!("JobTemplateSpec"))],
    ),
    def(
        batch!("JobTemplateSpec"),
        &[obj("metadata", OBJECT_META), obj("spec", batch!("JobSpec"))],
    ),
    // autoscaling
    def(
        "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler",
        META_ONLY,
    ),
    def("io.k8s.api.autoscaling.v1.Scale", META_ONLY),
    def(
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
        with_status!("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus"),
    ),
    conditions!(
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus",
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerCondition"
    ),
    // policy/v1
    def(
        "io.k8s.api.policy.v1.PodDisruptionBudget",
        spec_status!(
            "io.k8s.api.policy.v1.PodDisruptionBudgetSpec",
            "io.k8s.api.policy.v1.PodDisruptionBudgetStatus"
        ),
    ),
    def(
        "io.k8s.api.policy.v1.PodDisruptionBudgetSpec",
        &[obj_with("selector", meta!("LabelSelector"), "replace")],
    ),
    conditions!("io.k8s.api.policy.v1.PodDisruptionBudgetStatus", CONDITION),
    def("io.k8s.api.policy.v1.Eviction", META_ONLY),
    // networking.k8s.io/v1
    def("io.k8s.api.networking.v1.Ingress", META_ONLY),
    def("io.k8s.api.networking.v1.IngressClass", META_ONLY),
    def("io.k8s.api.networking.v1.NetworkPolicy", META_ONLY),
    def("io.k8s.api.networking.v1.IPAddress", META_ONLY),
    def(
        "io.k8s.api.networking.v1.ServiceCIDR",
        with_status!("io.k8s.api.networking.v1.ServiceCIDRStatus"),
    ),
    conditions!("io.k8s.api.networking.v1.ServiceCIDRStatus", CONDITION),
    // rbac.authorization.k8s.io/v1
    def("io.k8s.api.rbac.v1.Role", META_ONLY),
    def("io.k8s.api.rbac.v1.RoleBinding", META_ONLY),
    def("io.k8s.api.rbac.v1.ClusterRole", META_ONLY),
    def("io.k8s.api.rbac.v1.ClusterRoleBinding", META_ONLY),
    // storage.k8s.io/v1
    def("io.k8s.api.storage.v1.StorageClass", META_ONLY),
    def("io.k8s.api.storage.v1.CSIDriver", META_ONLY),
    def("io.k8s.api.storage.v1.CSIStorageCapacity", META_ONLY),
    def("io.k8s.api.storage.v1.VolumeAttachment", META_ONLY),
    def("io.k8s.api.storage.v1.VolumeAttributesClass", META_ONLY),
    def(
        "io.k8s.api.storage.v1.CSINode",
        &[
            obj("metadata", OBJECT_META),
            obj("spec", "io.k8s.api.storage.v1.CSINodeSpec"),
        ],
    ),
    def(
        "io.k8s.api.storage.v1.CSINodeSpec",
        &[merge(
            "drivers",
            "io.k8s.api.storage.v1.CSINodeDriver",
            "name",
        )],
    ),
    // smaller groups
    def("io.k8s.api.scheduling.v1.PriorityClass", META_ONLY),
    def("io.k8s.api.coordination.v1.Lease", META_ONLY),
    def("io.k8s.api.discovery.v1.EndpointSlice", META_ONLY),
    def("io.k8s.api.events.v1.Event", META_ONLY),
    def("io.k8s.api.node.v1.RuntimeClass", META_ONLY),
    def(
        "io.k8s.api.certificates.v1.CertificateSigningRequest",
        META_ONLY,
    ),
    def(
        "io.k8s.api.flowcontrol.v1.FlowSchema",
        with_status!("io.k8s.api.flowcontrol.v1.FlowSchemaStatus"),
    ),
    conditions!(
        "io.k8s.api.flowcontrol.v1.FlowSchemaStatus",
        "io.k8s.api.flowcontrol.v1.FlowSchemaCondition"
    ),
    def(
        "io.k8s.api.flowcontrol.v1.PriorityLevelConfiguration",
        with_status!("io.k8s.api.flowcontrol.v1.PriorityLevelConfigurationStatus"),
    ),
    conditions!(
        "io.k8s.api.flowcontrol.v1.PriorityLevelConfigurationStatus",
        "io.k8s.api.flowcontrol.v1.PriorityLevelConfigurationCondition"
    ),
    // admissionregistration.k8s.io/v1
    def(
        admission!("ValidatingWebhookConfiguration"),
        &[
            obj("metadata", OBJECT_META),
            merge("webhooks", admission!("ValidatingWebhook"), "name"),
        ],
    ),
    def(
        admission!("MutatingWebhookConfiguration"),
        &[
            obj("metadata", OBJECT_META),
            merge("webhooks", admission!("MutatingWebhook"), "name"),
        ],
    ),
    def(
        admission!("ValidatingWebhook"),
        &[merge(
            "matchConditions",
            admission!("MatchCondition"),
            "name",
        )],
    ),
    def(
        admission!("MutatingWebhook"),
        &[merge(
            "matchConditions",
            admission!("MatchCondition"),
            "name",
        )],
    ),
    def(
        admission!("ValidatingAdmissionPolicy"),
        &[
            obj("metadata", OBJECT_META),
            obj("spec", admission!("ValidatingAdmissionPolicySpec")),
        ],
    ),
    def(
        admission!("ValidatingAdmissionPolicySpec"),
        &[
            merge("matchConditions", admission!("MatchCondition"), "name"),
            merge("variables", admission!("Variable"), "name"),
        ],
    ),
    def(admission!("ValidatingAdmissionPolicyBinding"), META_ONLY),
    // aggregated API servers' own kinds
    def(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        META_ONLY,
    ),
    def(
        "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIService",
        with_status!("io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceStatus"),
    ),
    conditions!(
        "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceStatus",
        "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceCondition"
    ),
];
