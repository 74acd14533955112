"""The official Python Kubernetes client against kmicro: list, watch, create, patch,
conflicts. Run by python_client.rs with KUBECONFIG pointing at a fresh cluster."""

import sys
import threading

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config()
core = client.CoreV1Api()
apps = client.AppsV1Api()


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


names = [ns.metadata.name for ns in core.list_namespace().items]
check("kube-system" in names and "default" in names, f"default namespaces listed: {names}")

# A watch started before the writes sees them in order.
events = []
started = threading.Event()


def watch_configmaps():
    w = watch.Watch()
    started.set()
    for event in w.stream(core.list_namespaced_config_map, "default", timeout_seconds=20):
        events.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            w.stop()


watcher = threading.Thread(target=watch_configmaps)
watcher.start()
started.wait()

cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py", labels={"app": "py"}), data={"a": "1"})
created = core.create_namespaced_config_map("default", cm)
check(created.metadata.uid, "create returns the object with a uid")
check(created.metadata.resource_version, "and a resourceVersion")

try:
    core.create_namespaced_config_map("default", cm)
    check(False, "a duplicate create must fail")
except ApiException as e:
    check(e.status == 409 and "AlreadyExists" in e.body, f"duplicate create is 409 AlreadyExists: {e.status} {e.body}")

# Strategic merge patches (the client's default for dicts) arrive with the next API issue.
patched = core.patch_namespaced_config_map(
    "py", "default", {"data": {"b": "2"}}, _content_type="application/merge-patch+json"
)
check(patched.data == {"a": "1", "b": "2"}, f"patch merges: {patched.data}")

stale = created
stale.data = {"c": "3"}
try:
    core.replace_namespaced_config_map("py", "default", stale)
    check(False, "a stale replace must fail")
except ApiException as e:
    check(e.status == 409 and "Conflict" in e.body, f"stale replace is 409 Conflict: {e.status} {e.body}")

listed = core.list_namespaced_config_map("default", label_selector="app=py")
check([i.metadata.name for i in listed.items] == ["py"], "label selector list")
check(listed.metadata.resource_version, "lists carry a resourceVersion")

try:
    core.read_namespaced_config_map("nope", "default")
    check(False, "reading a missing object must fail")
except ApiException as e:
    check(e.status == 404, f"missing is 404: {e.status}")

dep = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="web"),
    spec=client.V1DeploymentSpec(
        replicas=2,
        selector=client.V1LabelSelector(match_labels={"app": "web"}),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "web"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="busybox")]),
        ),
    ),
)
apps.create_namespaced_deployment("default", dep)
scale = apps.patch_namespaced_deployment_scale(
    "web", "default", {"spec": {"replicas": 4}}, _content_type="application/merge-patch+json"
)
check(scale.spec.replicas == 4, "scale subresource")
check(apps.read_namespaced_deployment("web", "default").spec.replicas == 4, "scale reaches the deployment")

core.delete_namespaced_config_map("py", "default")
watcher.join(timeout=25)
kinds = [t for (t, n) in events if n == "py"]
check(kinds == ["ADDED", "MODIFIED", "DELETED"], f"watch events: {events}")
print("python client: all checks passed")
