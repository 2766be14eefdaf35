"""The deployment files are in step with the code, offline (no Docker engine, no cluster):
the lock file pins every dependency of pyproject.toml within its range, the alert rules
and the Grafana dashboard only use metrics something exports; in docker/ and k8s/ every
YAML file parses, every variable set is a setting SAV reads, every probe asks a route
that exists, one image by version and one port throughout, pods locked down, selectors
that select, placeholders marked as such. The schema check uses kubernetes-validate (the
test extra); the kustomize render and compose's own validation need kubectl and
docker-compose (Debian packages): a missing one fails, naming what to install.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from prometheus_client import generate_latest

from sav.api.app import create_app
from sav.api.metrics import ApiMetrics
from sav.config import declared, load_settings
from sav.projections.metrics import Lag, StoreSnapshot
from sav.webhooks.metrics import Endpoint, WebhookSnapshot
from sav.workers.health import serve_health

ROOT = Path(__file__).parents[2]
MONITORING = ROOT / "k8s" / "monitoring"
# Metrics the rules use that SAV does not export, and who does.
EXTERNAL = {
    "up": "Prometheus itself, per scrape target",
    "rabbitmq_detailed_queue_messages": "RabbitMQ's rabbitmq_prometheus plugin "
                                        "(/metrics/detailed?family=queue_coarse_metrics)",
}
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "rate", "irate", "increase",
    "absent", "histogram_quantile", "count_over_time", "and", "or", "unless", "on",
    "ignoring", "group_left", "group_right", "bool", "le", "offset",
}


def locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", line)
        if found:
            pins[canonicalize_name(found.group(1))] = found.group(2)
    return pins


def test_the_lock_pins_every_dependency_of_pyproject_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked()
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: regenerate it"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement.specifier}")
    assert "--hash=sha256:" in (ROOT / "requirements.lock").read_text()


def test_the_image_installs_from_the_lock() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile and "requirements.lock" in dockerfile
    assert "!requirements.lock" in (ROOT / ".dockerignore").read_text()


def exported() -> set[str]:
    """The names /metrics exposes, from the real collectors with every family filled."""
    metrics = ApiMetrics()
    metrics.store.snapshot = StoreSnapshot(
        head=3, projectors={"read_model": Lag(1, 2.0)}, publisher=Lag(1, 2.0),
        tickets=[("open", "normal", 1)], escalations=1, leases=[("publisher", "host:1:a")])
    metrics.webhooks.snapshot = WebhookSnapshot(
        by_status={"delivered": 1}, endpoints=[Endpoint("w-1", True, False, 1, 2.0)])
    metrics.requests.labels("GET", "/tickets", "200").inc()
    metrics.latency.labels("GET", "/tickets", "200").observe(0.01)
    text = generate_latest(metrics.registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines()
            if line and not line.startswith("#")}


def metric_names(expression: str) -> set[str]:
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)
    without_labels = re.sub(r"\{[^}]*\}", "", without_strings)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_labels)
    without_ranges = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
                            "", without_ranges)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_ranges))
    return {n for n in names if n not in PROMQL_WORDS and not re.fullmatch(r"\d+\w*", n)}


def rule_expressions() -> list[str]:
    rules = yaml.safe_load((MONITORING / "prometheus-rules.yaml").read_text())
    found = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
            assert rule["labels"]["severity"] in {"info", "warning", "critical"}
            assert rule["annotations"]["summary"]
            found.append(rule["expr"])
    return found


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_alerts_cover_what_operators_page_on() -> None:
    names = {rule["alert"] for group in yaml.safe_load(
        (MONITORING / "prometheus-rules.yaml").read_text())["groups"] for rule in group["rules"]}
    assert {"SavProjectionLagging", "SavPublisherLagging", "SavDeadLetters",
            "SavHigh5xxRate", "SavLeaseFlapping"} <= names


def test_every_metric_of_the_rules_and_the_dashboard_is_exported() -> None:
    ours = exported()
    assert {"sav_http_requests_total", "sav_lease_holder", "sav_projection_lag_seconds",
            "sav_publisher_lag_seconds"} <= ours
    for expression in rule_expressions() + dashboard_expressions():
        for name in metric_names(expression):
            assert name in ours or name in EXTERNAL, f"{name} (in {expression!r}) is not exported"


# -- docker/ and k8s/ ------------------------------------------------------------------

K8S = ROOT / "k8s"
DOCKER = ROOT / "docker"
IMAGE = "sav-service"
API_PORT = 8007
UID = 10001
VERSION_TAG = re.compile(r"\d+\.\d+\.\d+\S*")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|ACCESS_KEY|_PASS$|TOKEN|MASTER_KEY")
# docker/.env.example's variables that only compose reads (ports, versions, MySQL's own).
COMPOSE_ONLY = {"COMPOSE_PROJECT_NAME", "SAV_VERSION", "SAV_HOST_PORT", "SAV_API_WORKERS",
                "SAV_MYSQL_HOST_PORT", "SAV_MINIO_HOST_PORT", "MYSQL_ROOT_PASSWORD"}
EXAMPLES = {"secret.example.yaml", "ingress.example.yaml"}  # placeholders: not applied


@dataclass(frozen=True)
class Manifest:
    file: str
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc["kind"])

    @property
    def name(self) -> str:
        return str(self.doc["metadata"]["name"])


def manifests() -> list[Manifest]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [Manifest(path.name, doc) for doc in yaml.safe_load_all(path.read_text())
                      if doc is not None]
    return found


def one(kind: str, name: str) -> dict[str, Any]:
    [found] = [m.doc for m in manifests() if m.kind == kind and m.name == name]
    return found


def pod_specs() -> dict[str, dict[str, Any]]:
    """Every pod template of SAV's image (Deployments, the Job), by its object's name:
    not clamd's (clamav.yaml, its upstream image, checked on its own)."""
    return {m.name: m.doc["spec"]["template"]["spec"] for m in manifests()
            if m.kind in ("Deployment", "Job") and m.name != "clamav"}


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    return loaded


def env_example() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in (DOCKER / ".env.example").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    return {key.strip(): value.strip() for key, value in pairs}


def setting_variables() -> set[str]:
    return {row.variable for row in declared()}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_labels(name: str) -> dict[str, str]:
    labels: dict[str, str] = one("Deployment", name)["spec"]["template"]["metadata"]["labels"]
    return labels


def test_every_yaml_file_parses_and_names_its_objects_without_a_namespace() -> None:
    for path in [*K8S.rglob("*.yaml"), *DOCKER.glob("*.yml")]:
        assert list(yaml.safe_load_all(path.read_text())), path
    for manifest in manifests():
        assert manifest.doc.get("apiVersion") and manifest.kind, manifest.file
        assert manifest.name, manifest.file
        assert "namespace" not in manifest.doc["metadata"], (
            f"{manifest.file}: manifests are namespace-free (kubectl apply -n)")


def test_every_variable_the_deployments_set_is_a_setting_sav_reads() -> None:
    known = setting_variables()
    configmap = one("ConfigMap", "sav-config")["data"]
    secret = one("Secret", "sav-secrets")["stringData"]
    for source, names in [("configmap.yaml", set(configmap)), ("secret.example.yaml",
                                                                 set(secret))]:
        assert names <= known, f"{source} sets what SAV never reads: {names - known}"
    for name, pod in pod_specs().items():
        for container in containers(pod):
            env = {e["name"] for e in container.get("env", [])}
            assert env <= known, (name, env - known)
            refs = {next(iter(ref.values()))["name"] for ref in container.get("envFrom", [])}
            assert refs == {"sav-config", "sav-secrets"}, (name, refs)
    compose_env = set(compose()["x-sav-environment"])
    assert compose_env <= known, compose_env - known
    assert set(env_example()) - COMPOSE_ONLY <= known
    assert all(isinstance(value, str) for value in configmap.values()), "quote every value"
    assert not [k for k in configmap if SECRET_NAME.search(k)], "secrets go in the Secret"
    assert {k for k in known if SECRET_NAME.search(k)} & set(configmap) == set()
    assert configmap["SAV_INPROCESS_WORKERS"] == "false"  # sav-worker runs them
    assert configmap["APP_PORT"] == str(API_PORT)


def test_compose_variables_are_all_documented_and_all_used() -> None:
    text = "\n".join(line for line in (DOCKER / "docker-compose.yml").read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    documented = set(env_example())
    assert used <= documented, f"not in docker/.env.example: {used - documented}"
    assert documented - used <= {"COMPOSE_PROJECT_NAME"}, documented - used
    for key, value in env_example().items():
        if SECRET_NAME.search(key):
            assert "CHANGE_ME" in value, f"docker/.env.example: {key} must be a placeholder"


async def test_every_probe_asks_a_route_that_exists(tmp_path: Path) -> None:
    app = create_app(load_settings({"SAV_DATA_DIR": str(tmp_path), "AUTH_JWT_SECRET": "x" * 40}))
    api_routes = {"/" + route.path.lstrip("/") for route in app.router.routes}
    api = one("Deployment", "sav-service")["spec"]["template"]["spec"]["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}
    probes = {kind: api[kind]["httpGet"] for kind in
              ("startupProbe", "livenessProbe", "readinessProbe")}
    for kind, probe in probes.items():
        assert probe["path"] in api_routes, (kind, probe)
        assert ports[probe["port"]] == API_PORT, (kind, probe)
    # Liveness: the process; readiness: this pod can serve, not a worker's lag.
    assert probes["livenessProbe"]["path"] == "/health"
    assert probes["readinessProbe"]["path"] == "/ready"

    worker = one("Deployment", "sav-worker")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in worker["env"]}
    worker_ports = {port["name"]: port["containerPort"] for port in worker["ports"]}
    assert worker_ports["health"] == int(env["SAV_WORKER_HEALTH_PORT"])
    server = serve_health(StandIn(), "127.0.0.1", 0)  # the worker's real health server
    try:
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = worker[kind]["httpGet"]
            assert worker_ports.get(probe["port"], probe["port"]) == worker_ports["health"]
            url = f"http://127.0.0.1:{server.server_address[1]}{probe['path']}"
            with urllib.request.urlopen(url, timeout=5) as answer:  # a 404 raises
                assert answer.status == 200, (kind, probe)
    finally:
        server.shutdown()
        server.server_close()
    # The image's and compose's health checks: the liveness route of each.
    assert "/health" in (DOCKER / "Dockerfile").read_text().split("HEALTHCHECK", 1)[1]
    services = compose()["services"]
    assert "/health" in str(services["sav-service"]["healthcheck"]["test"])
    assert f":{worker_ports['health']}/health" in str(services["sav-worker"]["healthcheck"])


class StandIn:
    """What the worker health server asks (`sav.workers.health.WorkerHealth`'s answers)."""

    def health(self) -> tuple[int, dict[str, Any]]:
        return 200, {"status": "ok"}

    def status(self) -> tuple[int, dict[str, Any]]:
        return 200, {"status": "ok"}


def test_one_image_by_version_and_one_api_port_throughout() -> None:
    images = {c["image"] for pod in pod_specs().values() for c in containers(pod)}
    assert len(images) == 1, images
    [image] = images
    repository, tag = image.rsplit(":", 1)
    assert repository.rsplit("/", 1)[-1] == IMAGE and VERSION_TAG.fullmatch(tag), image
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["images"] == [{"name": IMAGE, "newTag": tag}]
    sav_image = compose()["x-sav-image"]["image"]
    assert sav_image == f"{IMAGE}:${{SAV_VERSION:-{tag}}}"
    assert env_example()["SAV_VERSION"] == tag

    service = one("Service", "sav-service")["spec"]
    assert service["type"] == "ClusterIP"
    assert [(p["port"], p["targetPort"]) for p in service["ports"]] == [(API_PORT, "http")]
    api = one("Deployment", "sav-service")["spec"]["template"]
    container = api["spec"]["containers"][0]
    assert container["ports"][0] == {"name": "http", "containerPort": API_PORT,
                                     "protocol": "TCP"}
    assert container["args"] == ["sav", "serve", "--host", "0.0.0.0", "--port", str(API_PORT)]
    assert api["metadata"]["annotations"]["prometheus.io/port"] == str(API_PORT)
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert f"EXPOSE {API_PORT}" in dockerfile
    assert f'CMD ["sav", "serve", "--host", "0.0.0.0", "--port", "{API_PORT}"]' in dockerfile
    assert env_example()["APP_PORT"] == str(API_PORT)
    worker = one("Deployment", "sav-worker")["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"] == ["sav", "worker", "all"]
    [migrate] = one("Job", "sav-db-migrate")["spec"]["template"]["spec"]["containers"]
    assert migrate["args"] == ["sav", "db", "upgrade"]


def test_pods_run_locked_down_without_a_service_account_token() -> None:
    account = one("ServiceAccount", "sav-service")
    assert account["automountServiceAccountToken"] is False
    assert "USER ${SAV_UID}:${SAV_GID}" in (DOCKER / "Dockerfile").read_text()
    assert f"ARG SAV_UID={UID}" in (DOCKER / "Dockerfile").read_text()
    for name, pod in pod_specs().items():
        assert pod["serviceAccountName"] == "sav-service", name
        assert pod["automountServiceAccountToken"] is False, name
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] == UID, name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in containers(pod):
            where = (name, container["name"])
            assert "command" not in container, f"{where}: args keep the image's tini"
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}, where
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], where
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) & set(resources["limits"])
        if name != "sav-db-migrate":  # a new version's pods wait for its schema
            assert any("sav db current" in " ".join(c["args"]) for c in pod["initContainers"])


def test_selectors_select_what_they_mean() -> None:
    api, worker = pod_labels("sav-service"), pod_labels("sav-worker")
    assert api["app.kubernetes.io/component"] == "api"
    assert worker["app.kubernetes.io/component"] == "worker"
    for name in ("sav-service", "sav-worker"):
        spec = one("Deployment", name)["spec"]
        assert matches(spec["selector"]["matchLabels"], pod_labels(name)), name
    service = one("Service", "sav-service")["spec"]["selector"]
    assert matches(service, api) and not matches(service, worker)
    budgets = [m.doc["spec"] for m in manifests() if m.kind == "PodDisruptionBudget"]
    assert sorted((matches(b["selector"]["matchLabels"], api),
                   matches(b["selector"]["matchLabels"], worker)) for b in budgets) == [
        (False, True), (True, False)], "one budget for the API, one for the workers"
    assert all(b.get("minAvailable") == 1 for b in budgets)
    assert one("Deployment", "sav-worker")["spec"]["replicas"] >= 2  # the budget can hold


def test_the_api_scales_on_cpu_and_the_autoscaler_owns_its_replicas() -> None:
    hpa = one("HorizontalPodAutoscaler", "sav-service")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": "sav-service"}
    assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] > hpa["minReplicas"]
    [metric] = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert "replicas" not in one("Deployment", "sav-service")["spec"]
    api = one("Deployment", "sav-service")["spec"]["template"]["spec"]["containers"][0]
    assert api["resources"]["requests"]["cpu"]  # utilisation is relative to it


def test_network_policies_admit_the_ports_the_pods_listen_on() -> None:
    policies = [m.doc["spec"] for m in manifests() if m.kind == "NetworkPolicy"]
    api, worker = pod_labels("sav-service"), pod_labels("sav-worker")
    listening = {"api": {API_PORT}, "worker": {8008}}
    for labels, component in ((api, "api"), (worker, "worker")):
        ingress = [p for p in policies if matches(p["podSelector"]["matchLabels"], labels)
                   and "Ingress" in p["policyTypes"]]
        assert ingress, f"no ingress policy selects the {component} pods"
        ports = {port["port"] for p in ingress for rule in p["ingress"]
                 for port in rule["ports"]}
        assert ports == listening[component], (component, ports)
        egress = [p for p in policies if matches(p["podSelector"]["matchLabels"], labels)
                  and "Egress" in p["policyTypes"]]
        egress_ports = {port["port"] for p in egress for rule in p["egress"]
                        for port in rule["ports"]}
        configmap = one("ConfigMap", "sav-config")["data"]
        needed = {53, int(configmap["DB_PORT"]), int(configmap["RABBITMQ_PORT"]),
                  int(configmap["MINIO_ENDPOINT"].rsplit(":", 1)[1]),
                  int(configmap["SAV_CLAMAV_PORT"])}
        assert needed <= egress_ports, (component, needed - egress_ports)


def test_clamd_is_deployed_where_the_settings_point_and_only_sav_reaches_it() -> None:
    configmap = one("ConfigMap", "sav-config")["data"]
    service = one("Service", configmap["SAV_CLAMAV_HOST"])["spec"]
    [port] = service["ports"]
    assert port["port"] == int(configmap["SAV_CLAMAV_PORT"])
    pod = one("Deployment", "clamav")["spec"]["template"]
    assert matches(service["selector"], pod["metadata"]["labels"])
    [container] = pod["spec"]["containers"]
    assert container["image"] == "clamav/clamav:stable"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports[port["targetPort"]] == port["port"]
    policy = one("NetworkPolicy", "clamav")["spec"]
    assert matches(policy["podSelector"]["matchLabels"], pod["metadata"]["labels"])
    [rule] = policy["ingress"]
    assert [p["port"] for p in rule["ports"]] == [port["port"]]
    assert all(matches(source["podSelector"]["matchLabels"], pod_labels(name))
               for source in rule["from"] for name in ("sav-service", "sav-worker"))
    clamav = compose()["services"]["clamav"]
    assert clamav["image"] == "clamav/clamav:stable" and clamav["healthcheck"]["test"]
    assert compose()["x-sav-environment"]["SAV_CLAMAV_HOST"] == "${SAV_CLAMAV_HOST:-clamav}"
    assert compose()["services"]["sav-service"]["depends_on"]["clamav"]["condition"] == (
        "service_healthy")


def test_the_kustomization_applies_every_manifest_but_the_examples() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files - EXAMPLES
    assert {m.kind for m in manifests() if m.file in EXAMPLES} == {"Secret", "Ingress"}
    ingress = one("Ingress", "sav-service")["spec"]
    backend = ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "sav-service", "port": {"name": "http"}}


def placeholder_lines(path: Path) -> list[str]:
    """The lines of `path` holding a placeholder value, without a PLACEHOLDER mark on
    them or in the comment block just above."""
    unmarked, comments = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#"):
            comments += line
            continue
        if re.search(r"example\.com|CHANGE_ME", line) and "PLACEHOLDER" not in (
                comments + line):
            unmarked.append(line.strip())
        comments = ""
    return unmarked


def test_placeholders_are_marked_and_trusted_proxies_are_narrow() -> None:
    secret = one("Secret", "sav-secrets")
    assert set(secret["stringData"].values()) == {"CHANGE_ME"} and "data" not in secret
    assert "TEMPLATE ONLY" in (K8S / "secret.example.yaml").read_text()
    assert "EXAMPLE ONLY" in (K8S / "ingress.example.yaml").read_text()
    for name in ("configmap.yaml", "ingress.example.yaml", "networkpolicy.yaml"):
        assert not placeholder_lines(K8S / name), (name, placeholder_lines(K8S / name))
    proxies = one("ConfigMap", "sav-config")["data"]["SAV_TRUSTED_PROXIES"]
    for network in proxies.split(","):
        assert ipaddress.ip_network(network.strip()).prefixlen >= 16, (
            f"{network}: trust only the ingress controller's pods, not a whole range")


def test_compose_scales_keeps_secrets_out_and_databases_local() -> None:
    services = compose()["services"]
    assert {"sav-migrate", "sav-service", "sav-worker", "sav-mysql", "rabbitmq",
            "minio"} <= set(services)
    assert not [name for name, s in services.items() if "container_name" in s], (
        "container_name forbids `docker compose up --scale`")
    for name in ("sav-service", "sav-worker", "sav-migrate"):
        assert services[name]["environment"]["SAV_INPROCESS_WORKERS"] == "false"
    for name in ("sav-service", "sav-worker"):
        waits = services[name]["depends_on"]
        assert waits["sav-migrate"]["condition"] == "service_completed_successfully"
        for dependency in ("sav-mysql", "rabbitmq", "minio"):
            assert waits[dependency]["condition"] == "service_healthy", (name, dependency)
            assert services[dependency]["healthcheck"], dependency
    assert services["sav-migrate"]["command"] == ["sav", "db", "upgrade"]
    assert services["sav-worker"]["command"] == ["sav", "worker", "all"]
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert str(value).startswith("${"), f"{name}: {key} is written in the file"
        if name not in ("sav-service",):  # only the API is published to every interface
            for port in service.get("ports", []):
                assert str(port).startswith("127.0.0.1:"), (name, port)


def test_the_image_builds_from_sources_the_context_keeps() -> None:
    rules = [(line.startswith("!"), line.lstrip("!").strip("/"))
             for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]

    def ignored(relative: str) -> bool:
        """Docker's rule: the last pattern matching the path or a parent decides."""
        parts, result = relative.split("/"), False
        for negated, pattern in rules:
            regex = (re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
                     .replace(r"\*", "[^/]*").replace(r"\?", "[^/]"))
            if any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
                result = not negated
        return result

    for kept in ("pyproject.toml", "requirements.lock", "README.md", "sav/api/app.py",
                 "sav/migrations/env.py"):
        assert not ignored(kept), kept
    for left_out in (".git/config", ".env", "docker/.env", "tests/unit/test_x.py",
                     "sav/__pycache__/x.pyc", ".venv/bin/python", "k8s/secret.yaml"):
        assert ignored(left_out), left_out
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["sav"]  # the image's CMD runs it


def test_kustomize_renders_what_is_applied() -> None:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing: apt-get install -y kubernetes-client (or kubectl)"
    rendered = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True,
                              text=True, timeout=60, check=True).stdout
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(rendered) if doc)
    assert kinds == sorted(["ServiceAccount", "ConfigMap", "Job", "Deployment", "Deployment",
                            "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                            "PodDisruptionBudget", "NetworkPolicy", "NetworkPolicy",
                            "NetworkPolicy", "Deployment", "Service", "NetworkPolicy"])


def test_manifests_match_the_kubernetes_schemas() -> None:
    files = [str(p) for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"]
    validate = Path(sys.executable).with_name("kubernetes-validate")
    assert validate.exists(), "kubernetes-validate is missing: pip install -e '.[test]'"
    command = [str(validate), "--strict", "--quiet", *files]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def compose_config(name: str) -> dict[str, Any]:
    """The file as compose itself reads it (`config`: anchors, `extends` and the
    variables of docker/.env.example resolved)."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 timeout=30).returncode == 0:
        command = [docker, "compose"]
    else:  # compose v1 validates the same file without an engine
        legacy = shutil.which("docker-compose")
        assert legacy, "docker compose is missing: apt-get install -y docker-compose"
        command = [legacy]
    result = subprocess.run(
        [*command, "--env-file", str(DOCKER / ".env.example"), "-f", str(DOCKER / name),
         "config"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = yaml.safe_load(result.stdout)
    return loaded


def test_docker_compose_accepts_the_file() -> None:
    assert "sav-mysql" in compose_config("docker-compose.yml")["services"]


def test_the_galera_stack_runs_sav_on_the_cluster_and_no_single_database() -> None:
    """docker/galera-compose.yml is a stack of its own: no sav-mysql started beside the
    cluster, and SAV's services are the base file's but for the database they use."""
    base = compose_config("docker-compose.yml")["services"]
    galera = compose_config("galera-compose.yml")["services"]
    assert "sav-mysql" not in galera
    assert {"galera-1", "galera-2", "galera-3", "galera-proxy"} <= set(galera)
    assert set(base) - {"sav-mysql"} <= set(galera)
    database = {"DB_HOST": "galera-proxy", "DB_PORT": "3306"}
    for name in set(base) - {"sav-mysql"}:
        ours, theirs = dict(galera[name]), dict(base[name])
        waits, base_waits = ours.pop("depends_on", {}), theirs.pop("depends_on", {})
        expected = {key: value for key, value in base_waits.items() if key != "sav-mysql"}
        if "sav-mysql" in base_waits:
            expected["galera-proxy"] = {"condition": "service_healthy"}
        assert waits == expected, name
        assert set(ours.pop("networks")) == set(theirs.pop("networks")), name
        if name.startswith("sav-"):
            environment = ours.pop("environment")
            environment.pop("SAV_READ_YOUR_WRITES_TIMEOUT", None)
            assert environment == {**theirs.pop("environment"), **database}, name
        assert ours == theirs, name
