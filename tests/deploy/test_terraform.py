"""examples/terraform/aws: a module that is formatted, parses, passes checkov, validates its
inputs as documented, and grants the server exactly the S3 actions pubkit uses.

Terraform's providers cannot be downloaded here, so nothing runs ``terraform init``: the
module is read with python-hcl2. The least-privilege proof runs moto's server with IAM
enforcement on, gives a fresh IAM user the module's policy (and, one by one, the policy with
one action removed), and runs pubkit's storage contract, an upload, downloads, a rebuild, a
mirror and a release deletion with that user's keys.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).parents[2]
MODULE = REPO / "examples" / "terraform" / "aws"
CHECKOV = "checkov==3.3.30"  # checks change between releases: a pinned version is reproducible
BUCKET = "pubkit-packages-test"
PREFIX = "pypi"
BACKUPS = "backups"


# -- reading the module ------------------------------------------------------------------


def unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals in their quotes; interpolations stay ``${…}``."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if isinstance(value, list):
        return [unquote(item) for item in value]
    if isinstance(value, dict):
        return {unquote(key): unquote(item) for key, item in value.items()}
    return value


def read_module() -> dict[str, list[Any]]:
    hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is in the dev extra")
    merged: dict[str, list[Any]] = {}
    for path in sorted(MODULE.glob("*.tf")):
        with path.open() as stream:
            for key, blocks in hcl2.load(stream).items():
                merged.setdefault(key, []).extend(unquote(blocks))
    return merged


def blocks(kind: str) -> dict[str, dict[str, Any]]:
    """``variable``/``output``/``locals`` as name -> body; ``resource``/``data`` as
    "type.name" -> body."""
    found: dict[str, dict[str, Any]] = {}
    for block in read_module().get(kind, []):
        for name, body in block.items():
            if kind in ("resource", "data"):
                for inner, inner_body in body.items():
                    found[f"{name}.{inner}"] = inner_body
            else:
                found[name] = body
    return found


def server_policy() -> dict[str, Any]:
    """The server's IAM policy as AWS takes it, for a bucket named BUCKET with objects under
    PREFIX (the KMS statement applies only with a customer-managed key and is left out)."""
    document = blocks("data")["aws_iam_policy_document.server"]
    bucket_arn = f"arn:aws:s3:::{BUCKET}"
    resolve = {"${local.bucket_arn}": bucket_arn,
               "${local.objects_arn}": f"{bucket_arn}/{PREFIX}/*",
               "${local.backups_arn}": f"{bucket_arn}/{BACKUPS}/*"}  # fmt: skip
    statements = []
    for statement in document["statement"]:
        statements.append({
            "Sid": statement["sid"],
            "Effect": statement["effect"],
            "Action": statement["actions"],
            "Resource": [resolve[resource] for resource in statement["resources"]],
        })  # fmt: skip
    return {"Version": "2012-10-17", "Statement": statements}


def policy_actions(policy: dict[str, Any]) -> set[str]:
    return {action for statement in policy["Statement"] for action in statement["Action"]}


def without(policy: dict[str, Any], action: str) -> dict[str, Any]:
    statements = []
    for statement in policy["Statement"]:
        actions = [a for a in statement["Action"] if a != action]
        if actions:
            statements.append({**statement, "Action": actions})
    return {**policy, "Statement": statements}


# -- format, parse, checkov ----------------------------------------------------------------


def test_terraform_fmt_finds_nothing_to_change() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH: `terraform fmt -check` needs its binary")
    done = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(MODULE)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_input_is_described_and_every_free_form_one_validated() -> None:
    variables = blocks("variable")
    assert variables
    for name, body in variables.items():
        assert body.get("description"), f"variable {name} has no description"
        if body.get("type") not in ("bool", "${map(string)}", "map(string)"):
            assert body.get("validation"), f"variable {name} is not validated"


def validation_pattern(variable: str) -> re.Pattern[str]:
    """The first ``regex("…", …)`` of a variable's validation (RE2, here a subset Python's
    ``re`` reads the same)."""
    condition = blocks("variable")[variable]["validation"][0]["condition"]
    match = re.search(r'regex\("((?:[^"\\]|\\.)*)"', condition)
    assert match, condition
    return re.compile(match[1].encode().decode("unicode_escape"))


@pytest.mark.parametrize(
    ("variable", "good", "bad"),
    [
        ("bucket_name", ["acme-pypi", "acme.packages.internal"], ["Acme", "a", "-acme", "acme_"]),
        ("storage_prefix", ["pypi", "team/pypi"], ["/pypi", "pypi/", "a//b", ""]),
        ("kms_key_arn",
         ["arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-0a1b-0a1b-0a1b-0a1b2c3d4e5f"],
         ["alias/pubkit", "arn:aws:kms:eu-west-1:123:key/x"]),
        ("name", ["pubkit", "pypi-internal"], ["Pubkit", "pk", "1pubkit", "pubkit-"]),
        ("kubernetes_namespace", ["pubkit", "ci-tools"], ["Pubkit", "-x", "x" * 64]),
    ],
)  # fmt: skip
def test_validations_accept_and_refuse_as_documented(
    variable: str, good: list[str], bad: list[str]
) -> None:
    pattern = validation_pattern(variable)
    for value in good:
        assert pattern.fullmatch(value), (variable, value)
    for value in bad:
        assert not pattern.fullmatch(value), (variable, value)


def test_outputs_are_urls_pubkit_accepts() -> None:
    from pubkit.server.storage.s3 import S3Storage

    outputs = blocks("output")
    storage_format = outputs["pubkit_storage"]["value"]
    assert storage_format.startswith('${format("s3://%s/%s?region=%s%s"'), storage_format
    # The format's result, with the KMS options that a customer-managed key adds:
    key = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-0a1b-0a1b-0a1b-0a1b2c3d4e5f"
    url = f"s3://{BUCKET}/{PREFIX}?region=eu-west-1&sse=aws:kms&kms_key_id={key}"
    storage = S3Storage.from_url(url)
    assert (storage.bucket, storage.prefix) == (BUCKET, PREFIX + "/")
    catalog_format = outputs["pubkit_catalog"]["value"]
    assert catalog_format.startswith('${format("postgresql://%s@%s:%d/%s?sslmode=verify-full')
    assert outputs["server_secret_access_key"]["sensitive"] is True
    # The catalog's password never passes through Terraform: only the secret's ARN does.
    for name, output in outputs.items():
        assert "password" not in output["value"].replace("master_user_secret", ""), name


def test_checkov_reports_no_failed_check_and_every_skip_has_a_reason() -> None:
    uv = shutil.which("uv", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                   os.environ.get("PATH", "")]))  # fmt: skip
    if uv is None:
        pytest.skip("uv is not installed (the dev extra has it): it installs checkov")
    # checkov is installed from PyPI into uv's tool cache (a heavy tree kept out of the dev
    # extra), then run where it can reach no network: it would otherwise ask its vendor's API.
    install = subprocess.run([uv, "tool", "run", "--from", CHECKOV, "checkov", "--version"],
                             capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    command = [uv, "tool", "run", "--offline", "--from", CHECKOV, "checkov", "-d", str(MODULE),
               "--framework", "terraform", "--skip-download", "-o", "json"]  # fmt: skip
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"],
                                                  check=False).returncode == 0:  # fmt: skip
        command = ["unshare", "-n", *command]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False,
                          env=env)  # fmt: skip
    report = json.loads(done.stdout)
    results = report["results"]
    failed = [(c["check_id"], c["resource"], c["check_name"]) for c in results["failed_checks"]]
    assert failed == [], failed
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 50  # it really checked the module
    skips = re.findall(r"checkov:skip=([A-Z0-9_]+)(:?)(.*)",
                       "".join(p.read_text() for p in MODULE.glob("*.tf")))  # fmt: skip
    for check_id, colon, reason in skips:
        assert colon and len(reason.strip()) > 20, f"skip of {check_id} gives no reason"
    skipped = {c["check_id"] for c in results["skipped_checks"]}
    assert skipped == {check_id for check_id, _, _ in skips}  # no stale skip comment


# -- least privilege, in moto with IAM enforcement ----------------------------------------


@dataclass(frozen=True)
class Moto:
    endpoint: str
    admin: dict[str, str]  # the keys of a user allowed everything

    def client(self, service: str, keys: dict[str, str] | None = None) -> Any:
        import boto3

        keys = keys or self.admin
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"])  # fmt: skip

    def principal(self, name: str, policy: dict[str, Any]) -> dict[str, str]:
        """A new IAM user holding ``policy`` and nothing else; its access keys."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="pubkit-server",
                            PolicyDocument=json.dumps(policy))  # fmt: skip
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}  # fmt: skip


@pytest.fixture(scope="module")
def moto_iam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    """moto's server in its own process, every request after the first three signed by a
    known IAM user and allowed only what that user's policies allow."""
    import boto3

    from pubkit.testing import free_port

    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                import urllib.request

                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"moto did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        # The three unauthenticated calls make an administrator; all else is signed.
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="bootstrap",
                           aws_secret_access_key="bootstrap")  # fmt: skip
        iam.create_user(UserName="administrator")
        iam.put_user_policy(UserName="administrator", PolicyName="everything",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                {"Effect": "Allow", "Action": "*", "Resource": "*"}]}))  # fmt: skip
        key = iam.create_access_key(UserName="administrator")["AccessKey"]
        moto = Moto(endpoint, {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                               "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]})  # fmt: skip
        moto.client("s3").create_bucket(Bucket=BUCKET)
        yield moto
    finally:
        process.terminate()
        process.wait(timeout=10)


def workload(moto: Moto, keys: dict[str, str], root: Path) -> dict[str, str]:
    """What the pubkit server and its admin commands do with S3, with ``keys``, under a
    prefix of its own; each step's failure, by step name (empty: everything worked)."""
    from starlette.testclient import TestClient

    from pubkit.server import admin
    from pubkit.server.app import create_app
    from pubkit.server.backup import export_access, read_access_object, write_access_object
    from pubkit.server.catalog import open_catalog
    from pubkit.server.mirror import mirror
    from pubkit.server.storage import LocalStorage, open_object, open_storage
    from pubkit.server.storage.s3 import PART_SIZE
    from pubkit.settings import load_server_settings
    from pubkit.testing import make_wheel
    from tests.server.conftest import basic, upload_fields

    saved = {name: os.environ.get(name) for name in (*keys, "AWS_ENDPOINT_URL_S3")}
    os.environ.update({**keys, "AWS_ENDPOINT_URL_S3": moto.endpoint})
    run = root.name  # one key prefix per run: runs never see each other's objects
    url = f"s3://{BUCKET}/{PREFIX}/{run}?addressing=path&max_attempts=1"
    failures: dict[str, str] = {}

    def step(name: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as error:  # the step's failure is the result
            failures[name] = f"{type(error).__name__}: {error}"

    def contract() -> None:
        storage = open_storage(url)
        small = root / "small"
        small.write_bytes(b"contract")
        assert storage.put_new("demo/demo-1.0.tar.gz", small) is True
        assert storage.put_new("demo/demo-1.0.tar.gz", small) is False
        assert storage.read_bytes("demo/demo-1.0.tar.gz") == b"contract"
        with storage.open("demo/demo-1.0.tar.gz") as stream:
            assert stream.read() == b"contract"
        assert storage.size("demo/demo-1.0.tar.gz") == 8
        assert storage.size("demo/missing") is None
        storage.put_bytes("demo/demo-1.0.tar.gz.json", b"{}")
        assert {o.key for o in storage.list("demo/")} >= {"demo/demo-1.0.tar.gz"}
        storage.delete("demo/demo-1.0.tar.gz.json")
        assert storage.size("demo/demo-1.0.tar.gz.json") is None

    def multipart() -> None:
        # A large file twice: the second write loses the race to the first and must leave no
        # incomplete multipart upload behind (S3 bills for its parts).
        storage = open_storage(url)
        large = root / "large"
        large.write_bytes(os.urandom(PART_SIZE + 1))
        assert storage.put_new("big/big-1.0.tar.gz", large) is True
        assert storage.put_new("big/big-1.0.tar.gz", large) is False
        pending = moto.client("s3").list_multipart_uploads(Bucket=BUCKET,
                                                           Prefix=f"{PREFIX}/{run}/")  # fmt: skip
        assert pending.get("Uploads", []) == [], "an aborted upload's parts are left behind"

    def ready() -> None:
        open_storage(url).check()

    data = root / "data"
    data.mkdir()
    wheel = make_wheel(root, "least-privilege", "1.0")
    settings = load_server_settings({"data_dir": data, "storage": url}, environ={})
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            catalog = app.state.services.catalog
            # Adding a user writes an access snapshot to storage (.access/ under the prefix):
            # a step of its own, after which an upload without the user is refused.
            step("access", lambda: admin.add_user(catalog, "alice", "correct-horse-battery",
                                                  True))  # fmt: skip

            def upload() -> None:
                answer = client.post(
                    "/", data=upload_fields(wheel), headers=basic("alice"),
                    files={"content": (wheel.name, wheel.read_bytes(), "application/octet-stream")},
                )  # fmt: skip
                assert answer.status_code == 200, answer.text

            def download() -> None:
                answer = client.get(f"/files/least-privilege/{wheel.name}")
                assert answer.status_code == 200 and answer.content == wheel.read_bytes()
                metadata = client.get(f"/files/least-privilege/{wheel.name}.metadata")
                assert metadata.status_code == 200, metadata.text

            def rebuild() -> None:
                fresh = open_catalog(f"sqlite:///{root / 'rebuilt.sqlite3'}")
                report = admin.rebuild_catalog(open_storage(url), fresh)
                assert report.files == 1, report
                assert fresh.file(wheel.name) is not None

            def copy() -> None:
                target = LocalStorage(root / "mirror")
                mirror(open_storage(url), target, spool_dir=root)
                assert target.read_bytes(f"least-privilege/{wheel.name}") == wheel.read_bytes()

            def export() -> None:
                # The nightly CronJob: `pubkit index export s3://BUCKET/backups/NAME.json`.
                bucket, key = open_object(f"s3://{BUCKET}/{BACKUPS}/{run}.json?addressing=path")
                write_access_object(bucket, key, export_access(catalog))
                assert read_access_object(bucket, key)["users"][0]["name"] == "alice"

            def delete_release() -> None:
                operations = admin.Admin(catalog, lambda: open_storage(url), "alice")
                assert operations.delete_release("least-privilege", "1.0") == 1
                assert open_storage(url).size(f"least-privilege/{wheel.name}") is None

            for name, action in [("contract", contract), ("multipart", multipart),
                                 ("ready", ready), ("upload", upload), ("download", download),
                                 ("rebuild", rebuild), ("mirror", copy), ("export", export),
                                 ("delete release", delete_release)]:  # fmt: skip
                step(name, action)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return failures


def test_the_server_policy_is_enough_for_everything_pubkit_does(
    moto_iam: Moto, tmp_path: Path
) -> None:
    keys = moto_iam.principal("pubkit-server", server_policy())
    assert workload(moto_iam, keys, tmp_path) == {}


def test_the_workload_is_refused_without_a_policy(moto_iam: Moto, tmp_path: Path) -> None:
    # The enforcement is real: a principal with no policy can do none of it.
    keys = moto_iam.principal("no-policy", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": "*"}]})  # fmt: skip
    failures = workload(moto_iam, keys, tmp_path)
    assert {"contract", "upload", "ready"} <= set(failures), failures


# What each action is for: the step that must fail without it (others may fail too).
NEEDED_BY = {
    "s3:ListBucket": {"ready", "rebuild", "mirror"},
    "s3:GetObject": {"download", "export"},
    "s3:PutObject": {"upload", "export"},
    "s3:AbortMultipartUpload": {"multipart"},
    "s3:DeleteObject": {"delete release"},
}


def test_every_action_of_the_policy_is_accounted_for() -> None:
    assert policy_actions(server_policy()) == set(NEEDED_BY)


@pytest.mark.parametrize("action", sorted(NEEDED_BY))
def test_each_action_of_the_policy_is_needed(
    moto_iam: Moto, tmp_path: Path, action: str
) -> None:
    name = "without-" + action.replace(":", "-")
    keys = moto_iam.principal(name, without(server_policy(), action))
    failures = workload(moto_iam, keys, tmp_path)
    assert NEEDED_BY[action] <= set(failures), failures
