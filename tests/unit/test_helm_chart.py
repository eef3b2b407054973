"""The Helm chart ``helm/flowwatch``, rendered by the real Helm engine and validated against Kubernetes schemas.

Rendering: ``helm-python-sdk`` binds Helm's Go SDK (``libhelm_c``, shipped in the wheel), so no ``helm`` binary
is needed; ``Chart.render`` is ``helm template`` (hooks included, no cluster). Validation: every manifest goes
through ``kubernetes-validate`` (strict: unknown fields fail) for Kubernetes ``K8S_VERSION``, whose schemas ship in
the package; the KEDA ``ScaledObject`` (a CRD, no Kubernetes schema) through a strict schema of the fields the
chart uses, written from KEDA v2.20's CRD. Also: the init Job's ``flowwatch.cluster`` against a fake
Elasticsearch client, with the policies the chart renders.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml

from flowwatch import cluster, es_indices
from flowwatch.settings import ApiSettings, DetectorSettings, IndexerSettings, Topics

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "flowwatch"
PRODUCTION = CHART / "values-production.yaml"
K8S_VERSION = "1.33.0"
DEV_VALUES: dict[str, Any] = {"secrets": {"hashKey": "unit-test-hash-key"}}
"""The default values need exactly one addition: a hash key (or an existing Secret)."""

Docs = list[dict[str, Any]]

_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
KEDA_SCALED_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {
            "type": "object", "required": ["name"], "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "labels": _STR_MAP, "annotations": _STR_MAP},
        },
        "spec": {
            "type": "object", "required": ["scaleTargetRef", "triggers"], "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object", "required": ["name"], "additionalProperties": False,
                    "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                   "name": {"type": "string"}},
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "advanced": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"horizontalPodAutoscalerConfig": {
                        "type": "object", "additionalProperties": False,
                        "properties": {"behavior": {"type": "object"}},
                    }},
                },
                "triggers": {
                    "type": "array", "minItems": 1,
                    "items": {
                        "type": "object", "required": ["type", "metadata"], "additionalProperties": False,
                        "properties": {"type": {"type": "string"}, "metadata": _STR_MAP,
                                       "authenticationRef": {"type": "object"}},
                    },
                },
            },
        },
    },
}
"""Strict subset of KEDA's ScaledObject CRD (keda.sh/v1alpha1): trigger metadata values are strings."""
KEDA_TRIGGER_AUTHENTICATION_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "TriggerAuthentication"},
        "metadata": KEDA_SCALED_OBJECT_SCHEMA["properties"]["metadata"],
        "spec": {
            "type": "object", "required": ["secretTargetRef"], "additionalProperties": False,
            "properties": {"secretTargetRef": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["parameter", "name", "key"], "additionalProperties": False,
                "properties": {"parameter": {"enum": ["username", "password", "ca", "cert", "key", "keyPassword",
                                                      "sasl", "tls"]},
                               "name": {"type": "string"}, "key": {"type": "string"}}}}},
        },
    },
}
"""Strict subset of KEDA's TriggerAuthentication CRD; parameters are those of KEDA v2.20's kafka scaler."""
_LABELS = {"type": "object", "required": ["name"], "additionalProperties": False,
           "properties": {"name": {"type": "string"}, "labels": _STR_MAP, "annotations": _STR_MAP}}
POD_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "PodMonitor"}, "metadata": _LABELS,
        "spec": {"type": "object", "required": ["selector", "podMetricsEndpoints"], "additionalProperties": False,
                 "properties": {
                     "selector": {"type": "object", "additionalProperties": False, "properties": {
                         "matchLabels": _STR_MAP, "matchExpressions": {"type": "array", "items": {
                             "type": "object", "required": ["key", "operator"], "additionalProperties": False,
                             "properties": {"key": {"type": "string"}, "operator": {"enum": ["In", "NotIn", "Exists"]},
                                            "values": {"type": "array", "items": {"type": "string"}}}}}}},
                     "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": {
                         "type": "object", "required": ["port"], "additionalProperties": False,
                         "properties": {"port": {"type": "string"}, "path": {"type": "string"},
                                        "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"}}}}}},
    },
}
"""Strict subset of the Prometheus Operator's PodMonitor CRD (monitoring.coreos.com/v1)."""
PROMETHEUS_RULE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "PrometheusRule"},
        "metadata": _LABELS,
        "spec": {"type": "object", "required": ["groups"], "additionalProperties": False, "properties": {
            "groups": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["name", "rules"], "additionalProperties": False, "properties": {
                    "name": {"type": "string"}, "rules": {"type": "array", "minItems": 1, "items": {
                        "type": "object", "required": ["alert", "expr"], "additionalProperties": False,
                        "properties": {"alert": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9]*$"},
                                       "expr": {"type": "string"},
                                       "for": {"type": "string", "pattern": "^[0-9]+(s|m|h)$"},
                                       "labels": _STR_MAP, "annotations": _STR_MAP}}}}}}}},
    },
}
"""Strict subset of the Prometheus Operator's PrometheusRule CRD."""
KAFKA_TRIGGER_KEYS = {"bootstrapServers", "consumerGroup", "topic", "lagThreshold", "activationLagThreshold",
                      "offsetResetPolicy", "allowIdleConsumers", "sasl", "tls"}
"""Metadata keys of KEDA's kafka scaler that the chart sets (all known to KEDA v2.20's kafka scaler)."""


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def render(values: dict[str, Any] | None = None, production: bool = False) -> Docs:
    """Every manifest of the chart (hooks included) for the default or production values plus ``values``."""
    base = yaml.safe_load(PRODUCTION.read_text(encoding="utf-8")) if production else {}
    with helm_python.Chart.load(CHART) as chart:
        manifests = chart.render(_merge(base, values or {}), name="fw", namespace="flowwatch", is_install=True)
    docs = []
    for path, text in sorted(manifests.items()):
        if path.endswith(".yaml"):
            docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return docs


@pytest.fixture(scope="module")
def default_docs() -> Docs:
    return render(DEV_VALUES)


@pytest.fixture(scope="module")
def production_docs() -> Docs:
    return render(production=True)


def one(docs: Docs, kind: str, suffix: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"{kind} *{suffix}: {[d['metadata']['name'] for d in found]}"
    return found[0]


def kinds(docs: Docs) -> list[str]:
    return sorted(d["kind"] for d in docs)


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def config_data(docs: Docs) -> dict[str, str]:
    """Every key of the release's ConfigMaps except the ILM hook ConfigMap."""
    data: dict[str, str] = {}
    for doc in docs:
        if doc["kind"] == "ConfigMap" and not doc["metadata"]["name"].endswith("-ilm"):
            data.update(doc["data"])
    return data


def ilm_files(docs: Docs) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    cm = one(docs, "ConfigMap", "-ilm")
    policies = {name.removesuffix(".json"): json.loads(text) for name, text in cm["data"].items()
                if name != "bindings.json"}
    return policies, json.loads(cm["data"]["bindings.json"])


# ---------------------------------------------------------------------------------------------------- schemas


@pytest.mark.parametrize("profile", ["default", "production"])
def test_every_manifest_validates_against_the_kubernetes_schemas(profile: str, default_docs: Docs,
                                                                 production_docs: Docs) -> None:
    docs = default_docs if profile == "default" else production_docs
    assert len(docs) >= 12
    for doc in docs:
        if doc["apiVersion"] == "monitoring.coreos.com/v1":
            schema = POD_MONITOR_SCHEMA if doc["kind"] == "PodMonitor" else PROMETHEUS_RULE_SCHEMA
            jsonschema.Draft202012Validator(schema).validate(doc)
            continue
        if doc["apiVersion"].startswith("keda.sh/"):
            schema = KEDA_TRIGGER_AUTHENTICATION_SCHEMA if doc["kind"] == "TriggerAuthentication" \
                else KEDA_SCALED_OBJECT_SCHEMA
            jsonschema.Draft202012Validator(schema).validate(doc)
            continue
        # raises ValidationError (bad manifest) or SchemaNotFoundError (unknown kind): both fail the test
        assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) == "1.33", doc["metadata"]["name"]


def test_the_validator_rejects_what_kubernetes_rejects(default_docs: Docs) -> None:
    """The strict schemas are really applied: a misspelled field and a wrong type both fail."""
    deployment = copy.deepcopy(one(default_docs, "Deployment", "-api"))
    deployment["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    deployment = copy.deepcopy(one(default_docs, "Deployment", "-api"))
    container(deployment)["ports"][0]["containerPort"] = "eighty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_the_chart_lints_clean() -> None:
    for values in (DEV_VALUES, yaml.safe_load(PRODUCTION.read_text(encoding="utf-8"))):
        report = helm_python.lint(CHART, values, strict=True, kube_version=f"v{K8S_VERSION}")
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert report["errors"] == [] and problems == [], report


def test_what_each_profile_renders(default_docs: Docs, production_docs: Docs) -> None:
    common = ["ConfigMap"] * 5 + ["Deployment"] * 2 + ["Job", "PodDisruptionBudget", "PodDisruptionBudget",
                                                       "Service", "Service", "ServiceAccount", "StatefulSet"]
    assert kinds(default_docs) == sorted([*common, "Secret"])
    assert kinds(production_docs) == sorted([*common, "HorizontalPodAutoscaler", "HorizontalPodAutoscaler",
                                             "ScaledObject", "TriggerAuthentication", "ConfigMap", "PodMonitor",
                                             "PrometheusRule"])


# ---------------------------------------------------------------------------------------------------- detector


@pytest.mark.parametrize("profile", ["default", "production"])
def test_detector_is_a_statefulset_with_a_volume_for_its_rocksdb_tables(profile: str, default_docs: Docs,
                                                                         production_docs: Docs) -> None:
    docs = default_docs if profile == "default" else production_docs
    sts = one(docs, "StatefulSet", "-detector")
    config = config_data(docs)
    assert config["FLOWWATCH_FAUST_STORE"] == "rocksdb://"
    datadir = config["FLOWWATCH_DETECTOR_DATADIR"]
    c = container(sts)
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["data"] == datadir
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == ("20Gi" if profile == "production" else "5Gi")
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    # static membership: the instance id is the pod name
    env = {e["name"]: e for e in c["env"]}
    assert env["FLOWWATCH_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    # the governing headless Service
    service = one(docs, "Service", "-detector")
    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    assert sts["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    if profile == "default":
        assert sts["spec"]["replicas"] == 2 <= int(config["FLOWWATCH_TOPIC_PARTITIONS"]) == 4
    else:
        assert "replicas" not in sts["spec"]  # KEDA owns the replica count
        assert config["FLOWWATCH_TOPIC_PARTITIONS"] == "12"


def test_detector_without_persistence_uses_an_empty_dir() -> None:
    docs = render(_merge(DEV_VALUES, {"detector": {"persistence": {"enabled": False}}}))
    sts = one(docs, "StatefulSet", "-detector")
    assert "volumeClaimTemplates" not in sts["spec"]
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}
    assert kubernetes_validate.validate(sts, K8S_VERSION, strict=True)


def test_keda_scales_the_detector_on_consumer_lag_within_the_partitions(production_docs: Docs) -> None:
    scaled = one(production_docs, "ScaledObject", "-detector")
    sts = one(production_docs, "StatefulSet", "-detector")
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": sts["metadata"]["name"]}
    partitions = int(config_data(production_docs)["FLOWWATCH_TOPIC_PARTITIONS"])
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert set(meta) <= KAFKA_TRIGGER_KEYS
    assert meta["consumerGroup"] == "flowwatch-detector"  # Faust's group id = the app id
    assert meta["topic"] == Topics().flow_events
    assert meta["bootstrapServers"] == config_data(production_docs)["FLOWWATCH_KAFKA_BOOTSTRAP"]
    assert int(meta["lagThreshold"]) > 0
    assert meta["allowIdleConsumers"] == "false"
    # KEDA's trigger authenticates like the workers: SASL/SCRAM over TLS with the same Secret and CA
    assert (meta["sasl"], meta["tls"]) == ("scram_sha512", "enable")
    auth = one(production_docs, "TriggerAuthentication", "-kafka")
    assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
    assert {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]} == {
        "username": ("flowwatch-secrets", "FLOWWATCH_KAFKA_SASL_USERNAME"),
        "password": ("flowwatch-secrets", "FLOWWATCH_KAFKA_SASL_PASSWORD"),
        "ca": ("kafka-cluster-ca-cert", "ca.crt")}


def _pod_env(docs: Docs, workload: dict[str, Any], secrets: dict[str, str]) -> dict[str, str]:
    """The environment a container of ``workload`` starts with: its ConfigMaps, its inline values and the
    ``secrets`` (key -> value) its secretKeyRefs name."""
    maps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    c = container(workload)
    env: dict[str, str] = {}
    for source in c.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    for e in c.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref is None and "value" in e:
            env[e["name"]] = e["value"]
        elif ref is not None and ref["key"] in secrets:
            env[e["name"]] = secrets[ref["key"]]
    return env


def test_mutual_tls_and_sasl_reach_every_kafka_client_of_the_chart() -> None:
    """The rendered environment, read by the services' own settings, gives each client SASL_SSL with the
    mounted CA and client certificate; the volumes hold the Secret the values name."""
    from flowwatch.kafka_client import confluent_config
    from flowwatch_tools.stack import settings_from

    values = _merge(DEV_VALUES, {
        "kafka": {"security": {"protocol": "SASL_SSL", "saslMechanism": "SCRAM-SHA-256", "tls": {
            "existingSecret": "fw-kafka-user", "caKey": "ca.crt", "certKey": "user.crt", "keyKey": "user.key"}}},
        "elasticsearch": {"tls": {"existingSecret": "es-ca"}},
        "secrets": {"kafkaSaslUsername": "fw", "kafkaSaslPassword": "pw", "esApiKey": "id:key"}})
    docs = render(values)
    secret = {k: base64.b64decode(v).decode() for k, v in one(docs, "Secret", "-secrets")["data"].items()}
    workloads = [one(docs, "StatefulSet", "-detector"), one(docs, "Deployment", "-indexer"),
                 one(docs, "Deployment", "-api"), one(docs, "Job", "-init")]
    for workload in workloads:
        env = _pod_env(docs, workload, secret)
        settings = settings_from(DetectorSettings if workload["kind"] == "StatefulSet" else IndexerSettings, env)
        conf = confluent_config(settings)
        assert (conf["security.protocol"], conf["sasl.mechanism"], conf["sasl.username"], conf["sasl.password"]) \
            == ("sasl_ssl", "SCRAM-SHA-256", "fw", "pw"), workload["metadata"]["name"]
        assert conf["ssl.ca.location"] == "/etc/flowwatch/kafka-tls/ca.crt"
        assert conf["ssl.certificate.location"] == "/etc/flowwatch/kafka-tls/user.crt"
        pod = workload["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["kafka-tls"]["secret"]["secretName"] == "fw-kafka-user"
        assert volumes["es-tls"]["secret"]["secretName"] == "es-ca"
        mounts = {m["name"]: m["mountPath"] for m in container(workload)["volumeMounts"]}
        assert mounts["kafka-tls"] == "/etc/flowwatch/kafka-tls"
        if workload["kind"] != "StatefulSet":
            es = settings_from(IndexerSettings, env)
            assert (es.es_ca_file, es.es_api_key.get_secret_value()) == ("/etc/flowwatch/es-tls/ca.crt", "id:key")
    # the init hook cannot read the release's Secret: its credentials come from the hook Secret
    hook = {k: base64.b64decode(v).decode() for k, v in one(docs, "Secret", "-init")["data"].items()}
    assert hook["FLOWWATCH_KAFKA_SASL_PASSWORD"] == "pw" and hook["FLOWWATCH_ES_API_KEY"] == "id:key"


def test_detector_probes_read_the_loop_monitor(default_docs: Docs) -> None:
    c = container(one(default_docs, "StatefulSet", "-detector"))
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["exec"]["command"] == ["python", "/opt/flowwatch/probe.py", "detector"]
    config = config_data(default_docs)
    assert config["FLOWWATCH_LOOP_STATS_FILE"].startswith("/tmp/")  # the emptyDir
    assert float(config["FLOWWATCH_LOOP_PROBE_INTERVAL"]) > 0


# ---------------------------------------------------------------------------------------------------- all pods


@pytest.mark.parametrize("profile", ["default", "production"])
def test_every_pod_has_probes_requests_and_runs_unprivileged(profile: str, default_docs: Docs,
                                                             production_docs: Docs) -> None:
    docs = default_docs if profile == "default" else production_docs
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    assert len(workloads) == 3
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        c = container(workload)
        assert "livenessProbe" in c and "readinessProbe" in c, workload["metadata"]["name"]
        assert {"cpu", "memory"} <= set(c["resources"]["requests"]), workload["metadata"]["name"]
        assert "memory" in c["resources"]["limits"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert pod["automountServiceAccountToken"] is False
        assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"])
    api = container(one(docs, "Deployment", "-api"))
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    indexer = container(one(docs, "Deployment", "-indexer"))
    assert indexer["livenessProbe"]["exec"]["command"][-2:] == ["alive", "flowwatch_indexer"]
    assert indexer["readinessProbe"]["exec"]["command"][-1] == "reachable"


def test_images_are_pinned() -> None:
    docs = render(_merge(DEV_VALUES, {"api": {"image": {"digest": "sha256:" + "a" * 64}}}))
    images = {d["metadata"]["name"]: container(d)["image"] for d in docs if d["kind"] in ("Deployment", "StatefulSet")}
    assert images == {"fw-flowwatch-api": "flowwatch/api@sha256:" + "a" * 64,
                      "fw-flowwatch-detector": "flowwatch/detector:0.1.0",
                      "fw-flowwatch-indexer": "flowwatch/indexer:0.1.0"}


def test_api_service_and_autoscaling(default_docs: Docs, production_docs: Docs) -> None:
    service = one(default_docs, "Service", "-api")
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert config_data(default_docs)["FLOWWATCH_API_HOST"] == "0.0.0.0"
    assert not [d for d in default_docs if d["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")]
    for name in ("-api", "-indexer"):
        hpa = one(production_docs, "HorizontalPodAutoscaler", name)
        deployment = one(production_docs, "Deployment", name)
        assert "replicas" not in deployment["spec"]  # the HPA owns the replica count
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "name": deployment["metadata"]["name"]}
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    partitions = int(config_data(production_docs)["FLOWWATCH_TOPIC_PARTITIONS"])
    assert one(production_docs, "HorizontalPodAutoscaler", "-indexer")["spec"]["maxReplicas"] <= partitions


# ---------------------------------------------------------------------------------------------------- settings


def _env_names(settings: type) -> set[str]:
    prefix = settings.model_config.get("env_prefix", "")  # type: ignore[attr-defined]
    return {f"{prefix}{name}".upper() for name in settings.model_fields}  # type: ignore[attr-defined]


SECRET_ENV = {"FLOWWATCH_HASH_KEY", "FLOWWATCH_ES_USERNAME", "FLOWWATCH_ES_PASSWORD", "FLOWWATCH_ES_API_KEY",
              "FLOWWATCH_KAFKA_SASL_USERNAME", "FLOWWATCH_KAFKA_SASL_PASSWORD", "FLOWWATCH_KAFKA_SSL_KEY_PASSWORD"}
NOT_SECRET = {"FLOWWATCH_INSTANCE_ID", "FLOWWATCH_KAFKA_SSL_KEY_FILE"}
"""Names that look like secrets but are not: the pod name, the path of the mounted client key."""
POD_ENV = {"FLOWWATCH_INSTANCE_ID"}  # from the pod name
OPTIONAL_ENV = {"FLOWWATCH_RULE_PACKS_DIR", "FLOWWATCH_EXPORT_PACKS_DIR", "FLOWWATCH_OIDC_JWKS_FILE"}
"""Folders of extra rule packs and an offline JWKS file: unset by default, set through ``extraEnv`` with a volume."""


def test_every_service_setting_is_set_by_the_chart(default_docs: Docs) -> None:
    """Each FLOWWATCH_* setting of the detector, indexer and API comes from a ConfigMap, a Secret or the pod."""
    wanted = set().union(*(_env_names(s) for s in (Topics, DetectorSettings, IndexerSettings, ApiSettings)))
    wanted |= {"FLOWWATCH_DETECTOR_DATADIR", "FLOWWATCH_LOOP_STATS_FILE"}  # read with os.environ by the detector
    provided = set(config_data(default_docs)) | SECRET_ENV | POD_ENV | OPTIONAL_ENV
    assert wanted - provided == set()
    assert set(config_data(default_docs)) & SECRET_ENV == set()


def test_topics_in_the_configmap_match_the_settings_defaults(default_docs: Docs) -> None:
    config = config_data(default_docs)
    defaults = Topics()
    for name in Topics.model_fields:
        assert config[f"FLOWWATCH_TOPIC_{name.upper()}"] == str(getattr(defaults, name)), name


# ---------------------------------------------------------------------------------------------------- secrets


def _secret_refs(workload: dict[str, Any]) -> dict[str, tuple[str, str, bool]]:
    refs = {}
    for e in container(workload).get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            refs[e["name"]] = (ref["name"], ref["key"], ref.get("optional", False))
        else:
            assert not re.search(r"KEY|PASSWORD|SECRET|TOKEN", e["name"]) or e["name"] in NOT_SECRET
    return refs


def test_secrets_come_from_a_secret_only(default_docs: Docs, production_docs: Docs) -> None:
    secret = one(default_docs, "Secret", "-secrets")
    assert base64.b64decode(secret["data"]["FLOWWATCH_HASH_KEY"]).decode() == "unit-test-hash-key"
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    kafka = {name: ("fw-flowwatch-secrets", name, True) for name in (
        "FLOWWATCH_KAFKA_SASL_USERNAME", "FLOWWATCH_KAFKA_SASL_PASSWORD", "FLOWWATCH_KAFKA_SSL_KEY_PASSWORD")}
    detector = _secret_refs(one(default_docs, "StatefulSet", "-detector"))
    assert detector == {"FLOWWATCH_HASH_KEY": ("fw-flowwatch-secrets", "FLOWWATCH_HASH_KEY", False), **kafka}
    for name in ("-api", "-indexer"):
        assert _secret_refs(one(default_docs, "Deployment", name)) == {
            "FLOWWATCH_ES_USERNAME": ("fw-flowwatch-secrets", "FLOWWATCH_ES_USERNAME", True),
            "FLOWWATCH_ES_PASSWORD": ("fw-flowwatch-secrets", "FLOWWATCH_ES_PASSWORD", True),
            "FLOWWATCH_ES_API_KEY": ("fw-flowwatch-secrets", "FLOWWATCH_ES_API_KEY", True), **kafka,
        }
    # production: the Secret is managed outside the chart
    assert [d for d in production_docs if d["kind"] == "Secret"] == []
    assert _secret_refs(one(production_docs, "StatefulSet", "-detector"))["FLOWWATCH_HASH_KEY"][0] == \
        "flowwatch-secrets"
    job = one(production_docs, "Job", "-init")
    assert {n: r[0] for n, r in _secret_refs(job).items()} == dict.fromkeys(
        SECRET_ENV - {"FLOWWATCH_HASH_KEY"}, "flowwatch-secrets")
    # the key never appears outside the Secret
    for doc in default_docs:
        if doc["kind"] != "Secret":
            assert "unit-test-hash-key" not in json.dumps(doc)


def test_es_credentials_reach_the_init_hook_through_a_hook_secret() -> None:
    docs = render(_merge(DEV_VALUES, {"secrets": {"esUsername": "fw", "esPassword": "pw"}}))
    hook_secret = one(docs, "Secret", "-init")
    assert hook_secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert base64.b64decode(hook_secret["data"]["FLOWWATCH_ES_PASSWORD"]).decode() == "pw"
    refs = _secret_refs(one(docs, "Job", "-init"))
    assert refs["FLOWWATCH_ES_PASSWORD"][0] == hook_secret["metadata"]["name"]
    assert "pw" not in json.dumps([d for d in docs if d["kind"] != "Secret"])


# ---------------------------------------------------------------------------------------------------- init, ILM


def test_init_job_is_a_pre_install_hook_that_runs_the_cluster_command(production_docs: Docs) -> None:
    job = one(production_docs, "Job", "-init")
    ilm = one(production_docs, "ConfigMap", "-ilm")
    for doc in (job, ilm):
        assert doc["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(ilm["metadata"]["annotations"]["helm.sh/hook-weight"]) < \
        int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "default"  # the chart's ServiceAccount does not exist before install
    c = container(job)
    assert c["command"] == ["python", "-m", "flowwatch.cluster"]
    assert "--replication-factor=3" in c["args"] and "--ilm-dir=/etc/flowwatch/ilm" in c["args"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["FLOWWATCH_TOPIC_PARTITIONS"] == "12"
    assert env["FLOWWATCH_KAFKA_BOOTSTRAP"] == config_data(production_docs)["FLOWWATCH_KAFKA_BOOTSTRAP"]
    assert "envFrom" not in c  # hooks run before the release's ConfigMaps exist
    assert {v["name"]: v for v in pod["volumes"]}["ilm"]["configMap"]["name"] == ilm["metadata"]["name"]


@pytest.mark.parametrize("profile", ["default", "production"])
def test_ilm_retention_meets_the_legal_minimums(profile: str, default_docs: Docs, production_docs: Docs) -> None:
    policies, bindings = ilm_files(default_docs if profile == "default" else production_docs)
    assert set(policies) == set(cluster.LEGAL_MINIMUM_DAYS)
    for cls, policy in policies.items():
        minimum = cluster.LEGAL_MINIMUM_DAYS[cls]
        assert policy["policy"]["_meta"]["legal_minimum_days"] == minimum  # the chart's table = the CLI's
        delete_after = cluster.delete_age_days(policy)
        assert delete_after is not None and delete_after >= minimum + cluster.MONTHLY_MARGIN_DAYS, cls
        assert policy["policy"]["_meta"]["retention_days"] >= minimum
    assert cluster.LEGAL_MINIMUM_DAYS == {"network-logs": 184, "export-records": 1096, "consent-records": 1827,
                                          "incidents": 1827}
    assert cluster.LEGAL_MINIMUM_DAYS["incidents"] == max(cluster.LEGAL_MINIMUM_DAYS.values())
    assert bindings == {"findings": "network-logs"}
    cluster.check_policies(policies, bindings)  # what the init Job checks before writing


def test_default_policies_equal_the_cli_defaults(default_docs: Docs) -> None:
    """Compose (no --ilm-dir) and the chart's defaults apply the same policies."""
    policies, bindings = ilm_files(default_docs)
    assert policies == cluster.default_policies()
    assert bindings == cluster.DEFAULT_BINDINGS


def test_production_keeps_records_longer(production_docs: Docs) -> None:
    policies, _ = ilm_files(production_docs)
    assert policies["network-logs"]["policy"]["phases"]["delete"]["min_age"] == "221d"  # 190 + 31
    assert policies["export-records"]["policy"]["phases"]["delete"]["min_age"] == "1131d"


class FakeES:
    """Records the calls the init command makes (no ILM in noida-db; the real API shapes are asserted)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.indices = self._Namespace(self, "indices")
        self.ilm = self._Namespace(self, "ilm")

    class _Namespace:
        def __init__(self, es: FakeES, name: str) -> None:
            self._es, self._name = es, name

        def __getattr__(self, method: str) -> Any:
            def call(**kwargs: Any) -> dict[str, Any]:
                self._es.calls.append((f"{self._name}.{method}", kwargs))
                return {"acknowledged": True}
            return call


def test_init_command_puts_templates_policies_and_lifecycle_templates(default_docs: Docs, tmp_path: Path) -> None:
    cm = one(default_docs, "ConfigMap", "-ilm")
    for name, text in cm["data"].items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    policies, bindings = cluster.load_policies(tmp_path)
    es = FakeES()
    bound = cluster.ensure_elasticsearch(es, "fw", policies, bindings)
    assert bound == {"fw-findings-lifecycle": "fw-network-logs"}
    puts = {kw["name"]: kw for op, kw in es.calls if op == "indices.put_index_template"}
    assert set(es_indices.templates("fw")) < set(puts)  # the plain templates, as the indexer puts them
    lifecycle = puts["fw-findings-lifecycle"]
    assert lifecycle["priority"] > puts["fw-findings"]["priority"]
    assert lifecycle["index_patterns"] == puts["fw-findings"]["index_patterns"]
    assert lifecycle["template"]["mappings"] == es_indices.templates("fw")["fw-findings"]["template"]["mappings"]
    assert lifecycle["template"]["settings"]["index.lifecycle.name"] == "fw-network-logs"
    assert es_indices.templates("fw")["fw-findings"]["template"]["settings"].get("index.lifecycle.name") is None
    put_policies = {kw["name"]: kw["policy"] for op, kw in es.calls if op == "ilm.put_lifecycle"}
    assert set(put_policies) == {f"fw-{c}" for c in cluster.LEGAL_MINIMUM_DAYS}
    assert put_policies["fw-network-logs"]["phases"]["delete"]["min_age"] == "215d"
    (settings,) = [kw for op, kw in es.calls if op == "indices.put_settings"]
    assert settings["index"] == "fw-findings-*" and settings["allow_no_indices"] is True


@pytest.mark.parametrize(("policies", "bindings", "message"), [
    ({"export-records": cluster.policy_body(30, "export-records", 0)}, {}, "below the legal minimum of 1096"),
    ({"network-logs": cluster.policy_body(184, "network-logs", 0)}, {"findings": "network-logs"},
     "keeps the newest records less than 184"),
    ({"network-logs": cluster.policy_body(184, "network-logs")}, {"incidents": "network-logs"},
     "only time-based indices"),
    ({"backups": {"policy": {"phases": {}}}}, {}, "unknown record class"),
])
def test_init_command_refuses_policies_below_the_minimum(policies: dict[str, Any], bindings: dict[str, str],
                                                         message: str) -> None:
    with pytest.raises(cluster.ClusterError, match=message):
        cluster.check_policies(policies, bindings)


# ---------------------------------------------------------------------------------------------------- refusals


IMPOSSIBLE = [
    ({"detector": {"replicas": 5}}, False, r"detector\.replicas \(5\) exceeds kafka\.partitions \(4\)"),
    ({"detector": {"replicas": 0}}, False, r"detector\.replicas must be at least 1"),
    ({"detector": {"keda": {"maxReplicas": 13}}}, True,
     r"detector\.keda\.maxReplicas \(13\) exceeds kafka\.partitions \(12\)"),
    ({"kafka": {"partitions": 2}}, True, r"exceeds kafka\.partitions \(2\)"),
    ({"detector": {"keda": {"minReplicas": 0}}}, True, r"minReplicas must be at least 1"),
    ({"detector": {"keda": {"minReplicas": 8, "maxReplicas": 6}}}, True, r"minReplicas \(8\) exceeds"),
    ({"indexer": {"autoscaling": {"maxReplicas": 20}}}, True, r"indexer replicas \(up to 20\) exceed"),
    ({"retention": {"exportRecordsDays": 30}}, False,
     r"retention\.exportRecordsDays \(30\) is below the legal minimum of 1096 days"),
    ({"retention": {"networkLogsDays": 180}}, True, r"retention\.networkLogsDays \(180\) is below .* 184 days"),
    ({"retention": {"consentRecordsDays": 1095}}, False, r"consentRecordsDays \(1095\) is below .* 1827"),
    ({"retention": {"incidentsDays": 1096}}, False, r"incidentsDays \(1096\) is below .* 1827"),
    ({"retention": {"indexPeriodDays": 7}}, False, r"indexPeriodDays must be at least 31"),
    ({"ilm": {"bindings": {"incidents": "incidents"}}}, False, r"only time-based indices"),
    ({"ilm": {"bindings": {"findings": "forever"}}}, False, r"unknown record class"),
    ({"secrets": {"hashKey": ""}}, False, r"secrets\.hashKey is empty and secrets\.existingSecret is not set"),
    ({"secrets": {"hashKey": "k"}}, True, r"leave secrets\.hashKey, esPassword, esApiKey"),
    ({"kafka": {"security": {"protocol": "TLS"}}}, False, r"kafka\.security\.protocol must be PLAINTEXT, SSL"),
    ({"kafka": {"security": {"saslMechanism": "GSSAPI"}}}, False, r"saslMechanism must be PLAIN, SCRAM-SHA-256"),
    ({"kafka": {"security": {"tls": {"existingSecret": "ca"}}}}, False, r"PLAINTEXT does not use TLS"),
    ({"kafka": {"security": {"protocol": "SSL", "tls": {"existingSecret": "ca", "certKey": "tls.crt"}}}}, False,
     r"mutual TLS needs both certKey and keyKey"),
    ({"kafka": {"security": {"protocol": "SASL_SSL"}}}, False,
     r"SASL_SSL needs secrets\.kafkaSaslUsername and secrets\.kafkaSaslPassword"),
    ({"elasticsearch": {"sslFingerprint": "ab", "tls": {"existingSecret": "es-ca"}}}, False,
     r"tls\.existingSecret \(a CA bundle\) or sslFingerprint, not both"),
    ({"detector": {"faustStore": "redis://"}}, False, r"faustStore must be rocksdb:// or memory://"),
    ({"detector": {"loopProbeInterval": 0}}, False, r"loopProbeInterval must be > 0"),
    ({"global": {"imageTag": "latest"}}, False, r"the tag \"latest\" is not a pinned image"),
    ({"api": {"image": {"digest": "sha256:abc"}}}, False, r"digest must be sha256"),
    ({"api": {"port": 80}}, False, r"api\.port must be 1024-65535"),
    ({"elasticsearch": {"url": "elasticsearch:9200"}}, False, r"elasticsearch\.url must be an http"),
]


@pytest.mark.parametrize(("values", "production", "message"), IMPOSSIBLE)
def test_impossible_values_fail_rendering_with_the_reason(values: dict[str, Any], production: bool,
                                                          message: str) -> None:
    base = {} if production else DEV_VALUES
    with pytest.raises(helm_python.HelmRenderError, match=message):
        render(_merge(base, values), production=production)


# ---------------------------------------------------------------------------------------------------- monitoring


def _exposed_metric_names() -> set[str]:
    """Every metric name the services expose, as Prometheus sees it (counters with _total, histograms with
    _bucket/_sum/_count, info with _info), read from the registries of the real modules."""
    from prometheus_client import REGISTRY

    import flowwatch_api.app  # noqa: F401
    import flowwatch_detector.metrics  # noqa: F401
    import flowwatch_indexer.metrics  # noqa: F401

    names: set[str] = set()
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "info": ["_info"],
                "gauge": [""], "summary": ["", "_sum", "_count"]}
    from flowwatch.observability import COMPLIANCE_GAUGES  # registered by the API's create_app

    for family in [*REGISTRY.collect(), *COMPLIANCE_GAUGES.describe()]:
        names |= {family.name + s for s in suffixes.get(family.type, [""])}
    return names


def test_pod_monitor_scrapes_every_metrics_port(production_docs: Docs) -> None:
    monitor = one(production_docs, "PodMonitor", "-flowwatch")
    ports = {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]}
    for workload in (one(production_docs, "StatefulSet", "-detector"), one(production_docs, "Deployment", "-indexer"),
                     one(production_docs, "Deployment", "-api")):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert labels["app.kubernetes.io/component"] in monitor["spec"]["selector"]["matchExpressions"][0]["values"]
        assert {p["name"] for p in container(workload)["ports"]} & ports, workload["metadata"]["name"]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_alert_rules_cover_the_issue_and_use_metrics_that_exist(production_docs: Docs) -> None:
    rules = {r["alert"]: r for g in one(production_docs, "PrometheusRule", "-flowwatch")["spec"]["groups"]
             for r in g["rules"]}
    wanted = {"FlowwatchConsumerLagHigh": "flowwatch_consumer_lag", "FlowwatchDeadLetterRateHigh":
              "flowwatch_dead_letters_total", "FlowwatchObligationOverdue": "flowwatch_overdue_obligations",
              "FlowwatchIndexerErrors": "flowwatch_indexer_bulk_failures_total"}
    for alert, metric in wanted.items():
        assert metric in rules[alert]["expr"], alert
    exposed = _exposed_metric_names()
    for rule in rules.values():
        for name in re.findall(r"flowwatch_[a-z_]+", rule["expr"]):
            assert name in exposed, f"{rule['alert']}: {name} is not a metric of the services"
        assert rule["expr"].count("(") == rule["expr"].count(")") and 'namespace="flowwatch"' in rule["expr"]


def test_grafana_dashboard_is_json_on_metrics_that_exist(production_docs: Docs) -> None:
    cm = one(production_docs, "ConfigMap", "-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["flowwatch.json"])
    assert dashboard["uid"] == "flowwatch" and dashboard["panels"]
    exposed = _exposed_metric_names()
    titles = set()
    for panel in dashboard["panels"]:
        titles.add(panel["title"])
        for target in panel["targets"]:
            for name in re.findall(r"flowwatch_[a-z_]+", target["expr"]):
                assert name in exposed, f"{panel['title']}: {name}"
    assert {"Overdue obligations", "Open alerts", "Consumer lag", "Dead letters by reason"} <= titles


def test_monitoring_objects_are_off_by_default(default_docs: Docs) -> None:
    assert not [d for d in default_docs if d["kind"] in ("PodMonitor", "PrometheusRule")]
    assert not [d for d in default_docs if d["metadata"]["name"].endswith("-dashboard")]
