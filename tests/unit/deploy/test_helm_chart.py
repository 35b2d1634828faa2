"""The Helm chart, rendered by a real Helm engine (helm-python-sdk bundles Helm's Go SDK) and
every manifest validated against the Kubernetes OpenAPI schemas (kubernetes-validate).

Rendered with the chart's defaults and with `values-external.yaml` (managed Kafka with SASL,
Redis and S3 from Secrets, alerts, ServiceMonitor, NetworkPolicy). The environment each pod
gets is resolved (Secret references included) and loaded by the service's settings class.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml
from pydantic_settings import BaseSettings

from proxy.pii.service import vault_key_problems
from proxy.settings import ProxySettings
from sinks.settings import SinkSettings
from streams.alerts.settings import AlertsSettings
from streams.settings import StreamsSettings

CHART = Path(__file__).resolve().parents[3] / "deploy" / "helm" / "modeltrail"
K8S_VERSION = "1.30.0"
EXTERNAL = yaml.safe_load((CHART / "values-external.yaml").read_text())
SETTINGS: dict[str, type[BaseSettings]] = {
    "proxy": ProxySettings,
    "streams": StreamsSettings,
    "sink": SinkSettings,
    "alerts": AlertsSettings,
}
# Custom resources have no schema in kubernetes-validate; their shape is asserted below.
CRDS = {"ServiceMonitor"}
# What an operator's own Secrets hold, by key (the external values bring their own).
EXTERNAL_SECRET_VALUES = {
    "backends": '[{"name": "openai", "url": "https://api.openai.com"}]',
    "control-keys": '[{"id": "admin", "key": "k-from-vault", "scopes": ["admin"]}]',
    "webhooks": '[{"name": "siem", "url": "https://siem.example/ocsf", "format": "ocsf"}]',
    "url": "redis://redis.example:6379/0",
    "pii-keys": '["JiUkIyIhIB8eHRwbGhkYFxYVFBMSERAPDg0MCwoJCAc="]',
}


def render(values: dict[str, Any] | None) -> list[dict[str, Any]]:
    with helm_python.Chart.load(CHART) as chart:
        out = chart.render(values, name="mt", namespace="ai", is_install=True)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(out.items()):
        if path.endswith(".txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_env(doc: dict[str, Any], secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """The container's env with secretKeyRefs resolved from rendered Secrets (others: a dummy)."""
    env: dict[str, str] = {}
    for item in doc["spec"]["template"]["spec"]["containers"][0]["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "secretKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["secretKeyRef"]
            own = secrets.get(ref["name"])
            env[item["name"]] = (
                own[ref["key"]] if own else EXTERNAL_SECRET_VALUES.get(ref["key"], "from-vault")
            )
    return env


@pytest.fixture(params=["defaults", "external"])
def manifests(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(None if request.param == "defaults" else EXTERNAL)


def test_every_manifest_validates_against_the_kubernetes_schema(
    manifests: list[dict[str, Any]],
) -> None:
    kinds = set()
    for doc in manifests:
        kinds.add(doc["kind"])
        if doc["kind"] in CRDS:
            continue
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    assert {"ConfigMap", "ServiceAccount"} <= kinds


def test_defaults_render_the_core_services_with_generated_secrets() -> None:
    docs = render(None)
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == {
        "mt-modeltrail-proxy",
        "mt-modeltrail-streams",
        "mt-modeltrail-sink",
    }
    (secret,) = by_kind(docs, "Secret").values()
    data = secret["stringData"]
    assert len(data["control-key"]) >= 32 and len(data["key-salt"]) >= 32
    assert len(data["key-secret"]) >= 32 and data["key-secret"] != data["key-salt"]
    assert json.loads(data["pii-keys"]) == [data["pii-key"]]
    assert len(base64.b64decode(data["pii-key"])) == 32
    assert data["control-key"] not in ("change-me-now", "") and "default" not in data["key-salt"]
    keys = json.loads(data["control-keys"])
    assert keys == [{"id": "admin", "key": data["control-key"], "scopes": ["admin"]}]
    # A fresh install generates fresh secrets: nothing shared between installations.
    (again,) = by_kind(render(None), "Secret").values()
    assert again["stringData"]["control-key"] != data["control-key"]
    assert again["stringData"]["pii-key"] != data["pii-key"]


def test_proxy_is_probed_on_health_scaled_on_cpu_and_protected_by_a_pdb() -> None:
    docs = render(None)
    proxy = by_kind(docs, "Deployment")["mt-modeltrail-proxy"]
    container = proxy["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/control/health", "port": "control"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert proxy["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert "replicas" not in proxy["spec"]  # the HPA owns it
    (hpa,) = by_kind(docs, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "mt-modeltrail-proxy"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    (pdb,) = by_kind(docs, "PodDisruptionBudget").values()
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "proxy"
    services = by_kind(docs, "Service")
    assert [p["port"] for p in services["mt-modeltrail-proxy"]["spec"]["ports"]] == [8080]
    assert [p["port"] for p in services["mt-modeltrail-control"]["spec"]["ports"]] == [9090]


def test_backend_keys_live_only_in_the_secret() -> None:
    docs = render({"secrets": {"backendKeys": {"openai": "sk-test-123"}}})
    (secret,) = by_kind(docs, "Secret").values()
    backends = json.loads(secret["stringData"]["backends"])
    assert {b["name"]: b.get("api_key") for b in backends} == {
        "openai": "sk-test-123",
        "anthropic": None,
    }
    everything_else = json.dumps([d for d in docs if d["kind"] != "Secret"])
    assert "sk-test-123" not in everything_else


@pytest.mark.parametrize("values", [None, EXTERNAL], ids=["defaults", "external"])
def test_pod_env_is_read_by_the_settings_classes(
    values: dict[str, Any] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(values)
    secrets = {n: d.get("stringData", {}) for n, d in by_kind(docs, "Secret").items()}
    for name, deployment in by_kind(docs, "Deployment").items():
        component = name.rsplit("-", 1)[1]
        cls = SETTINGS[component]
        env = pod_env(deployment, secrets)
        for key in list(os.environ):
            if key.startswith("MODELTRAIL_"):
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = cls()
        kafka = settings.kafka  # type: ignore[attr-defined]
        expected = (values or {}).get("kafka", {}).get("bootstrapServers", "kafka:9092")
        assert kafka.bootstrap_servers == expected, name
        if isinstance(settings, ProxySettings):
            assert settings.control_keys and settings.session_store == "redis"
            assert settings.control_host == "0.0.0.0"
            assert settings.default_backend in {b.name for b in settings.backends}
            # Client keys on, one key secret for every replica (not a per-pod file).
            assert settings.client_auth == "keys" and settings.key_secret is not None
            # The PII vault on Redis: one key ring for every replica, so the proxy starts.
            assert settings.pii.keys and vault_key_problems(settings) == []


def test_external_values_wire_sasl_tls_secrets_and_optional_objects() -> None:
    docs = render(EXTERNAL)
    proxy = by_kind(docs, "Deployment")["mt-modeltrail-proxy"]
    env = {e["name"]: e for e in proxy["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MODELTRAIL_KAFKA__SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
    assert env["MODELTRAIL_KAFKA__SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "modeltrail-kafka",
        "key": "password",
    }
    assert env["MODELTRAIL_REDIS__URL"]["valueFrom"]["secretKeyRef"]["name"] == "modeltrail-redis"
    volumes = {v["name"] for v in proxy["spec"]["template"]["spec"]["volumes"]}
    assert "kafka-tls" in volumes
    assert not by_kind(docs, "Secret")  # everything comes from existing Secrets
    (monitor,) = by_kind(docs, "ServiceMonitor").values()
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    policies = by_kind(docs, "NetworkPolicy")
    assert len(policies) == 2
    assert by_kind(docs, "Deployment")["mt-modeltrail-alerts"]
    config = by_kind(docs, "ConfigMap")["mt-modeltrail-policy"]
    assert "acme.yaml" in config["data"]


def test_chart_lints_clean() -> None:
    report = helm_python.lint(CHART, strict=True)
    errors = [m for m in report["messages"] if m["severity"] >= 2]
    assert not errors and not report["errors"], report
