"""The deployment files are in step with the code: the lock file pins every dependency
of pyproject.toml within its range, the alert rules and the Grafana dashboard only use
metrics something exports, and scripts/validate_deploy.sh passes (offline)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from prometheus_client import generate_latest

from sav.api.metrics import ApiMetrics
from sav.projections.metrics import Lag, StoreSnapshot

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


def test_validate_deploy_passes() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "validate_deploy.sh")], capture_output=True,
        text=True, env={**os.environ, "PYTHON": sys.executable}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
