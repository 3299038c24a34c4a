"""The Python kubernetes client (37.x) against rkube: version, whoami, namespaces,
ConfigMaps and Deployments created, listed by label, patched (strategic merge, merge and
JSON patch), watched and deleted. Run by e2e_python.rs with KUBECONFIG set; exits non-zero
at the first check that fails."""

import threading
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

NS = "py-e2e"


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def status_of(call):
    try:
        call()
    except ApiException as err:
        return err.status
    return 200


config.load_kube_config()
core = client.CoreV1Api()
apps = client.AppsV1Api()

version = client.VersionApi().get_code()
check(version.major == "1" and version.minor == "33", f"server version {version.git_version}")

me = client.AuthenticationV1Api().create_self_subject_review(
    client.V1SelfSubjectReview()
)
check(me.status.user_info.username == "system:admin", "whoami is system:admin")
check("system:masters" in me.status.user_info.groups, "in system:masters")

ns = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
check(ns.status.phase == "Active", "namespace created and active")

cm = core.create_namespaced_config_map(
    NS,
    client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="settings", labels={"app": "web"}),
        data={"a": "1"},
    ),
)
check(cm.data == {"a": "1"} and cm.metadata.uid, "configmap created")
core.create_namespaced_config_map(
    NS,
    client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="other", labels={"app": "db"}), data={}
    ),
)
labels = {"app": "web"}
deployment = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="web", labels=labels),
    spec=client.V1DeploymentSpec(
        replicas=2,
        selector=client.V1LabelSelector(match_labels=labels),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels=labels),
            spec=client.V1PodSpec(
                containers=[
                    client.V1Container(
                        name="web",
                        image="nginx:1.25",
                        ports=[client.V1ContainerPort(container_port=80)],
                    ),
                    client.V1Container(name="sidecar", image="busybox:1.36"),
                ]
            ),
        ),
    ),
)
dep = apps.create_namespaced_deployment(NS, deployment)
check(dep.spec.strategy.type == "RollingUpdate", "deployment created with defaults")

names = [c.metadata.name for c in core.list_namespaced_config_map(NS, label_selector="app=web").items]
check(names == ["settings"], f"configmaps selected by label: {names}")
names = [c.metadata.name for c in core.list_namespaced_config_map(NS, label_selector="app in (web,db)").items]
check(sorted(names) == ["other", "settings"], f"set-based selector: {names}")
deps = apps.list_namespaced_deployment(NS, label_selector="app=web").items
check([d.metadata.name for d in deps] == ["web"], "deployments selected by label")

# A dict body is a strategic merge patch: containers merge by name.
patched = apps.patch_namespaced_deployment(
    "web",
    NS,
    {"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}},
)
containers = {c.name: c for c in patched.spec.template.spec.containers}
check(patched.spec.replicas == 3, "strategic merge patch set replicas")
check(containers["web"].image == "nginx:1.27", "strategic merge patch changed the image")
check(containers["web"].ports[0].container_port == 80, "and kept the port")
check(containers["sidecar"].image == "busybox:1.36", "and kept the other container")
check(patched.metadata.generation == 2, "generation moved on")

merged = core.patch_namespaced_config_map(
    "settings", NS, {"data": {"b": "2", "a": None}}, _content_type="application/merge-patch+json"
)
check(merged.data == {"b": "2"}, f"merge patch: {merged.data}")
jsonpatched = core.patch_namespaced_config_map(
    "settings", NS, [{"op": "add", "path": "/data/c", "value": "3"}]
)
check(jsonpatched.data == {"b": "2", "c": "3"}, f"json patch: {jsonpatched.data}")

start = core.list_namespaced_config_map(NS).metadata.resource_version


def writer():
    time.sleep(0.5)
    core.create_namespaced_config_map(
        NS,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="watched", labels={"app": "watched"}),
            data={"n": "1"},
        ),
    )
    core.patch_namespaced_config_map("watched", NS, {"data": {"n": "2"}})


thread = threading.Thread(target=writer)
thread.start()
events = []
w = watch.Watch()
for event in w.stream(
    core.list_namespaced_config_map,
    NS,
    label_selector="app=watched",
    resource_version=start,
    timeout_seconds=20,
):
    events.append((event["type"], event["object"].metadata.name, event["object"].data["n"]))
    if len(events) == 2:
        w.stop()
thread.join()
check(events == [("ADDED", "watched", "1"), ("MODIFIED", "watched", "2")], f"watch events: {events}")

core.delete_namespaced_config_map("settings", NS)
check(status_of(lambda: core.read_namespaced_config_map("settings", NS)) == 404, "configmap deleted")
apps.delete_namespaced_deployment("web", NS)
check(status_of(lambda: apps.read_namespaced_deployment("web", NS)) == 404, "deployment deleted")
core.delete_namespace(NS)
deadline = time.time() + 60
while status_of(lambda: core.read_namespace(NS)) != 404:
    if time.time() > deadline:
        raise AssertionError("the namespace was not deleted within a minute")
    time.sleep(0.2)
check(True, "namespace emptied and deleted")
print("python client: every check passed")
