"""examples/kubernetes: schema-valid manifests that agree with the image and the server.

Every manifest is validated with kubernetes-validate (its bundled schemas, offline, strict, for
explicit Kubernetes versions). The rest checks what a schema cannot: probes on the server's
real endpoints and the image's port, the image's user, settings pubkit actually reads, no
secret in the ConfigMap, an Ingress closed to public addresses and open to our largest upload.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from starlette.testclient import TestClient

from pubkit.errors import ConfigurationError
from pubkit.server.app import create_app
from pubkit.server.catalog import open_catalog
from pubkit.settings import ENV_PREFIX, ServerSettings, load_server_settings
from tests.deploy.test_dockerfile import (
    image_env_values,
    read_dockerfile,
    runtime_user,
    tool,
)

REPO = Path(__file__).parents[2]
MANIFESTS = REPO / "examples" / "kubernetes"
README_SECTION = MANIFESTS / "readme-section.md"
# The oldest Kubernetes the manifests are meant for, and a recent one.
KUBERNETES_VERSIONS = ("1.30.0", "1.34.0")
VALIDATE_REQUIREMENT = "kubernetes-validate>=1.34"
RFC1918 = {
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
}
ALLOWLIST_ANNOTATIONS = (
    "nginx.ingress.kubernetes.io/allowlist-source-range",
    "nginx.ingress.kubernetes.io/whitelist-source-range",
)
# Variables the server's libraries read: boto3 (S3) and libpq (PostgreSQL).
LIBRARY_VARIABLES = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "PGPASSWORD",
    "PGSSLMODE",
    "PGSSLROOTCERT",
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE", re.IGNORECASE)

Manifest = dict[str, Any]


def manifest_files() -> list[Path]:
    return sorted(p for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml")


def load(path: Path) -> list[Manifest]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def resources() -> list[Manifest]:
    return [document for path in manifest_files() for document in load(path)]


def one(kind: str) -> Manifest:
    (found,) = [r for r in resources() if r["kind"] == kind]
    return found


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = one("Deployment")["spec"]["template"]["spec"]
    return spec


def container() -> dict[str, Any]:
    (found,) = pod_spec()["containers"]
    return found


def container_port(port: int | str) -> int:
    """A probe's or a Service's port, by number or by the container port's name."""
    if isinstance(port, int):
        return port
    (found,) = [p["containerPort"] for p in container()["ports"] if p["name"] == port]
    return int(found)


def security(name: str) -> Any:
    """A securityContext field as it applies to the container: its own, else the pod's."""
    own = container().get("securityContext", {})
    return own[name] if name in own else pod_spec().get("securityContext", {}).get(name)


def image_env() -> dict[str, str]:
    return image_env_values(read_dockerfile().final)


def configmap() -> dict[str, str]:
    data: dict[str, str] = one("ConfigMap")["data"]
    return data


def secret() -> dict[str, str]:
    data: dict[str, str] = one("Secret")["stringData"]
    return data


def kube_bytes(quantity: str) -> int:
    """A Kubernetes memory or storage quantity (``256Mi``, ``2Gi``, ``1G``) in bytes."""
    match = re.fullmatch(r"(\d+)([KMGT]i?)?", quantity)
    assert match, quantity
    unit = match[2] or ""
    if not unit:
        return int(match[1])
    base = 1024 if unit.endswith("i") else 1000
    return int(match[1]) * base ** {"K": 1, "M": 2, "G": 3, "T": 4}[unit[0]]


def nginx_size(value: str) -> int:
    """An nginx size (``256m``, ``1g``, ``512k``, bytes) in bytes."""
    match = re.fullmatch(r"(\d+)([kmg]?)", value.strip().lower())
    assert match, value
    return int(match[1]) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match[2]]


# -- schemas -----------------------------------------------------------------------------


def validate(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    command = tool("kubernetes-validate", VALIDATE_REQUIREMENT)
    versions = [arg for version in KUBERNETES_VERSIONS for arg in ("-k", version)]
    return subprocess.run(
        [command, "--strict", *versions, *map(str, paths)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_every_manifest_is_valid_for_the_kubernetes_versions() -> None:
    validated = validate(manifest_files())
    report = validated.stdout + validated.stderr
    assert validated.returncode == 0, report
    # A kind without a schema is only a warning to the tool: here it is a failure.
    assert "WARN" not in report and "ERROR" not in report, report
    passed = re.findall(r"passed for resource (\S+) against version (\S+)", report)
    expected = {
        (f"{r['kind'].lower()}/{r['metadata']['name']}", ".".join(v.split(".")[:2]))
        for r in resources()
        for v in KUBERNETES_VERSIONS
    }
    assert set(passed) == expected, report


def test_the_validator_rejects_what_the_schema_forbids(tmp_path: Path) -> None:
    deployment = one("Deployment")
    deployment["spec"]["replicas"] = "two"
    broken = tmp_path / "typo.yaml"
    broken.write_text(yaml.safe_dump(deployment))
    unknown = tmp_path / "unknown-field.yaml"
    service = one("Service")
    service["spec"]["targetPorts"] = [8080]  # strict validation refuses unknown fields
    unknown.write_text(yaml.safe_dump(service))
    for path in (broken, unknown):
        validated = validate([path])
        assert validated.returncode != 0, validated.stdout + validated.stderr


def test_the_kustomization_applies_every_manifest() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == [p.name for p in manifest_files()]
    namespace = one("Namespace")["metadata"]["name"]
    assert kustomization["namespace"] == namespace
    (image,) = kustomization["images"]
    assert container()["image"].split(":")[0] == image["name"]
    # The namespace enforces the restricted Pod Security Standard the pods are written for.
    labels = one("Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


# -- the Deployment ----------------------------------------------------------------------


def test_the_deployment_runs_replicas_with_probes_on_the_server_endpoints(
    tmp_path: Path,
) -> None:
    deployment = one("Deployment")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    # The container listens where the image makes the server listen.
    env = image_env()
    (port,) = container()["ports"]
    assert port["containerPort"] == int(env["PUBKIT_PORT"])
    assert read_dockerfile().final.one("EXPOSE").arguments == str(port["containerPort"])
    assert "PUBKIT_PORT" not in configmap() and "PUBKIT_HOST" not in configmap()
    assert "command" not in container() and "args" not in container()  # the image's entrypoint

    probes = {name: container()[name]["httpGet"] for name in
              ("readinessProbe", "livenessProbe", "startupProbe")}  # fmt: skip
    assert probes["readinessProbe"]["path"] == "/ready"
    assert probes["livenessProbe"]["path"] == "/health"
    assert probes["startupProbe"]["path"] == "/health"
    for probe in probes.values():
        assert container_port(probe["port"]) == port["containerPort"]
        assert probe.get("scheme", "HTTP") == "HTTP"

    # Those paths are the server's, and answer 200 when storage and catalog are there.
    settings = load_server_settings({"data_dir": tmp_path / "data"}, environ={})
    with TestClient(create_app(settings)) as client:
        for probe in probes.values():
            answer = client.get(probe["path"])
            assert answer.status_code == 200, (probe, answer.text)

    resources = container()["resources"]
    for kind in ("cpu", "memory"):
        assert kind in resources["requests"] and kind in resources["limits"]
    assert kube_bytes(resources["requests"]["memory"]) <= kube_bytes(resources["limits"]["memory"])

    # SIGTERM lets requests finish within the grace period.
    graceful = load_server_settings(environ=configmap()).graceful_timeout
    assert graceful < pod_spec()["terminationGracePeriodSeconds"]


def test_service_links_cannot_override_the_server_settings() -> None:
    """Kubernetes gives pods ``<SERVICE>_PORT=tcp://IP:PORT`` for every Service of their
    namespace unless ``enableServiceLinks`` is false; for the Service "pubkit" that is
    ``PUBKIT_PORT``, which the server cannot start with."""
    service = one("Service")
    prefix = service["metadata"]["name"].upper().replace("-", "_")
    (port,) = service["spec"]["ports"]
    links = {
        f"{prefix}_SERVICE_HOST": "10.96.0.10",
        f"{prefix}_SERVICE_PORT": str(port["port"]),
        f"{prefix}_PORT": f"tcp://10.96.0.10:{port['port']}",
    }
    with pytest.raises(ConfigurationError, match="PUBKIT_PORT"):
        load_server_settings(environ={**image_env(), **configmap(), **links})
    assert pod_spec()["enableServiceLinks"] is False


def test_the_pod_runs_as_the_image_user_with_nothing_to_spare() -> None:
    uid, gid = runtime_user(read_dockerfile())
    assert security("runAsNonRoot") is True
    assert (security("runAsUser"), security("runAsGroup")) == (uid, gid)
    assert pod_spec()["securityContext"]["fsGroup"] == gid
    assert security("allowPrivilegeEscalation") is False
    assert security("readOnlyRootFilesystem") is True
    assert security("privileged") in (None, False)
    assert security("capabilities") == {"drop": ["ALL"]}
    assert security("seccompProfile") == {"type": "RuntimeDefault"}
    assert pod_spec()["automountServiceAccountToken"] is False

    # With a read-only root, the data dir (and its upload spool) and /tmp are volumes.
    settings = load_server_settings(environ={**image_env(), **configmap()})
    mounts = {m["mountPath"]: m["name"] for m in container()["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    assert str(settings.data_dir) in mounts and "/tmp" in mounts
    for path in (str(settings.data_dir), "/tmp"):
        assert "emptyDir" in volumes[mounts[path]], volumes[mounts[path]]
    # The spool holds whole uploads: room for a few of the largest at once.
    spool = kube_bytes(volumes[mounts[str(settings.data_dir)]]["emptyDir"]["sizeLimit"])
    assert spool >= 4 * settings.max_upload_size


# -- configuration -----------------------------------------------------------------------


def test_the_environment_names_are_read_by_pubkit_or_its_libraries() -> None:
    known = {ENV_PREFIX + setting.name.upper() for setting in fields(ServerSettings)}
    names = set(configmap())
    names |= {variable["name"] for variable in container().get("env", [])}
    unknown = {n for n in names if n not in known and n not in LIBRARY_VARIABLES}
    assert not unknown, f"nothing reads {sorted(unknown)}"

    # What pubkit reads parses: the settings load from the ConfigMap over the image's ENV.
    settings = load_server_settings(environ={**image_env(), **configmap()})
    assert settings.workers >= 1 and settings.read in ("public", "authenticated")
    storage = urlsplit(settings.storage)
    assert storage.scheme == "s3" and storage.netloc and storage.path.strip("/")
    catalog = urlsplit(settings.catalog)
    assert catalog.scheme == "postgresql" and catalog.username and catalog.path.strip("/")

    # The ConfigMap and Secret the container refers to are these, key by key.
    (source,) = container()["envFrom"]
    assert source["configMapRef"]["name"] == one("ConfigMap")["metadata"]["name"]
    for variable in container()["env"]:
        reference = variable["valueFrom"]["secretKeyRef"]
        assert reference["name"] == one("Secret")["metadata"]["name"]
        assert reference["key"] in secret() and reference["key"] == variable["name"]


def test_no_secret_is_in_the_configmap_and_the_secret_holds_placeholders() -> None:
    data = configmap()
    assert not [name for name in data if SECRET_NAME.search(name)]
    for value in data.values():
        assert urlsplit(value).password is None, value
        assert not any(secret_value in value for secret_value in secret().values())
    assert set(secret()) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PGPASSWORD"}
    assert "data" not in one("Secret")  # readable placeholders, not base64
    for value in secret().values():
        assert value.startswith("CHANGE-ME-fake-"), value


def postgres_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        return False
    return True


def test_the_catalog_password_reaches_postgresql_from_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ConfigMap's catalog URL has no password; libpq takes the Secret's PGPASSWORD."""
    if not postgres_reachable():
        message = "no PostgreSQL on 127.0.0.1:5432"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    password = secret()["PGPASSWORD"]
    monkeypatch.setenv("PGPASSWORD", password)
    # The ConfigMap's URL, pointed at this machine's server and its stock role and database.
    parts = urlsplit(configmap()["PUBKIT_CATALOG"])
    local = urlunsplit(parts._replace(netloc="postgres@127.0.0.1:5432", path="/postgres"))
    catalog = open_catalog(local, create=False)
    try:
        catalog.check()
        connection = catalog.engine.raw_connection()
        try:
            info = connection.driver_connection.info
            assert (info.user, info.password) == ("postgres", password)
        finally:
            connection.close()
    finally:
        catalog.close()


# -- Service, Ingress, PodDisruptionBudget ------------------------------------------------


def test_the_service_reaches_the_container_port() -> None:
    service = one("Service")
    assert service["spec"]["type"] == "ClusterIP"
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    assert container_port(port["targetPort"]) == int(image_env()["PUBKIT_PORT"])
    labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_the_ingress_admits_only_the_internal_network_and_our_largest_upload() -> None:
    ingress = one("Ingress")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    annotations = ingress["metadata"]["annotations"]
    for name in ALLOWLIST_ANNOTATIONS:
        networks = {ipaddress.ip_network(r.strip()) for r in annotations[name].split(",")}
        assert networks and all(
            any(n.subnet_of(private) for private in RFC1918) for n in networks
        ), networks
    assert len({annotations[name] for name in ALLOWLIST_ANNOTATIONS}) == 1

    # The body of the largest accepted upload (plus its multipart form) gets through.
    largest = load_server_settings(environ=configmap()).max_upload_size
    body = nginx_size(annotations["nginx.ingress.kubernetes.io/proxy-body-size"])
    assert body >= largest + 1024**2

    service = one("Service")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_the_disruption_budget_keeps_a_replica() -> None:
    budget = one("PodDisruptionBudget")
    labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 1 <= budget["spec"]["minAvailable"] < one("Deployment")["spec"]["replicas"]


# -- the README --------------------------------------------------------------------------


def test_the_readme_has_the_deploy_section_as_written_here() -> None:
    section = README_SECTION.read_text()
    readme = (REPO / "README.md").read_text()
    assert section in readme, (
        f"README.md lacks {README_SECTION.relative_to(REPO)} verbatim: paste it (or edit both)"
    )
    # What it tells to run exists.
    assert "kubectl apply -k examples/kubernetes" in section
    assert (REPO / "Dockerfile").exists() and (MANIFESTS / "kustomization.yaml").exists()


# -- the network policy, the service account, the nightly jobs ----------------------------


def test_the_network_policy_admits_only_pods_of_the_cluster_on_the_http_port() -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in resources()
                if p["kind"] == "NetworkPolicy"}  # fmt: skip
    deny = policies.pop("pubkit-default-deny")
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny  # no rule: nothing is admitted
    (index,) = policies.values()
    labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert index["podSelector"]["matchLabels"].items() <= labels.items()
    (rule,) = index["ingress"]
    # Namespaces of the cluster only: no ipBlock, so no address outside the cluster.
    assert rule["from"] == [{"namespaceSelector": {}}]
    (port,) = rule["ports"]
    assert container_port(port["port"]) == int(image_env()["PUBKIT_PORT"])


def cronjobs() -> dict[str, Manifest]:
    return {r["metadata"]["name"]: r for r in resources() if r["kind"] == "CronJob"}


def job_container(job: Manifest) -> dict[str, Any]:
    (found,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return found


def test_pods_run_as_the_service_account_the_terraform_role_trusts() -> None:
    account = one("ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    specs = [pod_spec()] + [j["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                            for j in cronjobs().values()]  # fmt: skip
    for spec in specs:
        assert spec["serviceAccountName"] == account["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False
    # The IRSA trust of examples/terraform/aws names this namespace and account by default.
    variables = (REPO / "examples" / "terraform" / "aws" / "variables.tf").read_text()
    namespace = one("Namespace")["metadata"]["name"]
    assert re.search(r'variable "kubernetes_namespace" \{[^}]*default\s*=\s*"' + namespace,
                     variables)  # fmt: skip
    assert re.search(r'variable "kubernetes_service_account" \{[^}]*default\s*=\s*"'
                     + account["metadata"]["name"], variables)  # fmt: skip


def test_the_nightly_jobs_run_like_the_server() -> None:
    jobs = cronjobs()
    assert set(jobs) == {"pubkit-export", "pubkit-verify", "pubkit-prune"}
    for job in jobs.values():
        spec = job["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never" and pod["enableServiceLinks"] is False
        assert pod["securityContext"] == pod_spec()["securityContext"]
        own = job_container(job)
        assert own["image"] == container()["image"]
        assert own["securityContext"] == container()["securityContext"]
        assert own["envFrom"] == container()["envFrom"]
        for variable in own["env"]:
            reference = variable.get("valueFrom", {}).get("secretKeyRef")
            if reference:
                assert reference["name"] == one("Secret")["metadata"]["name"]
                assert reference["key"] in secret()
    # The drift alert watches the verify Job by its name.
    rule = yaml.safe_load((MANIFESTS / "monitoring" / "prometheusrule.yaml").read_text())
    drift = [r for g in rule["spec"]["groups"] for r in g["rules"]
             if r.get("alert") == "PubkitStorageCatalogDrift"]  # fmt: skip
    assert 'job_name=~"pubkit-verify-.*"' in drift[0]["expr"]


def test_the_export_job_command_writes_a_dated_export_into_the_bucket(
    tmp_path: Path, s3_bucket: str
) -> None:
    # The CronJob's own command line, through /bin/sh as the container runs it, against a
    # bucket in moto's S3 and a catalog with one user.
    import boto3

    from pubkit.server import admin

    job = job_container(cronjobs()["pubkit-export"])
    assert job["command"] == ["/bin/sh", "-c"]
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    admin.add_user(open_catalog(catalog_url), "alice", "correct-horse-battery")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBKIT_")}
    path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({"PUBKIT_CATALOG": catalog_url, "PUBKIT_DATA_DIR": str(tmp_path),
                "BACKUP_PREFIX": f"s3://{s3_bucket}/backups", "PATH": path})  # fmt: skip
    done = subprocess.run([*job["command"], *job["args"]], env=env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    listing = boto3.client("s3").list_objects_v2(Bucket=s3_bucket, Prefix="backups/")
    (stored,) = [item["Key"] for item in listing["Contents"]]
    assert re.fullmatch(r"backups/access-\d{8}T\d{6}Z\.json", stored), stored


@pytest.mark.parametrize("name", ["pubkit-verify", "pubkit-prune"])
def test_the_maintenance_jobs_run_a_pubkit_command(name: str, tmp_path: Path) -> None:
    # Their command line, on an empty index: it parses and runs.
    from typer.testing import CliRunner

    from pubkit.cli import app

    command = job_container(cronjobs()[name])["command"]
    assert command[0] == "pubkit"
    answer = CliRunner().invoke(app, [*command[1:], "--data-dir", str(tmp_path)])
    assert answer.exit_code == 0, answer.output


# -- monitoring (Prometheus Operator resources) ---------------------------------------------

MONITORING = MANIFESTS / "monitoring"


def test_the_monitoring_resources_match_the_operators_schema() -> None:
    import json

    import jsonschema

    schema = json.loads((Path(__file__).parent / "schemas" / "monitoring.coreos.com-v1.json")
                        .read_text())  # fmt: skip
    paths = [p for p in sorted(MONITORING.glob("*.yaml")) if p.name != "kustomization.yaml"]
    documents = [d for path in paths for d in load(path)]
    assert {d["kind"] for d in documents} == {"ServiceMonitor", "PrometheusRule"}
    for document in documents:
        jsonschema.validate(document, schema)
    broken = {**documents[0], "spec": {**documents[0]["spec"], "endpoint": []}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)  # a misspelt field fails, as the API server would


def test_the_service_monitor_scrapes_the_service_at_metrics() -> None:
    (monitor,) = load(MONITORING / "servicemonitor.yaml")
    service = one("Service")
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in MONITORING.glob("*.yaml") if p.name != "kustomization.yaml")
    (generated,) = kustomization["configMapGenerator"]
    assert generated["files"] == ["grafana-dashboard.json"]
