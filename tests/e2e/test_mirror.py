"""``pubkit index mirror`` local -> S3 -> local, resumed and in conflict, then a restore:
rebuild plus export/import on a fresh data dir gives back the same index, its users and their
API tokens."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from pubkit.server.storage import LocalStorage, Storage, open_storage
from pubkit.testing import LiveServer, make_sdist, make_wheel
from tests.e2e.support import files_by_name, output, run, twine_upload

pytestmark = pytest.mark.e2e

PROJECT = "e2e-mirrored"
SUMMARY = re.compile(
    r"^mirrored .*: (\d+) objects: (\d+) copied, (\d+) already there, (\d+) conflicts,"
    r" (\d+) failed$",
    re.MULTILINE,
)


def pubkit(*args: str | Path, code: int = 0) -> tuple[str, str]:
    result = run([sys.executable, "-m", "pubkit", *args])
    assert result.returncode == code, output(result)
    return result.stdout, result.stderr


def mirror(source: str, target: str, code: int = 0) -> tuple[tuple[int, ...], str, str]:
    """The command's summary counts (objects, copied, already there, conflicts, failed)."""
    out, err = pubkit("index", "mirror", source, target, code=code)
    found = SUMMARY.search(out)
    assert found, out + err
    return tuple(int(number) for number in found.groups()), out, err


def contents(storage: Storage) -> dict[str, bytes]:
    return {obj.key: storage.read_bytes(obj.key) for obj in storage.list()}


def test_mirror_local_s3_local_then_restore(
    server: LiveServer, dists: Path, tmp_path: Path, s3_bucket: str
) -> None:
    files = [
        make_wheel(dists, PROJECT, "1.0"),
        make_sdist(dists, PROJECT, "1.0"),
        make_wheel(dists, PROJECT, "2.0"),
    ]
    uploaded = twine_upload(server, files, "alice")
    assert uploaded.returncode == 0, output(uploaded)
    pubkit("yank", PROJECT, "2.0", "--reason", "broken", "--data-dir", server.data_dir)
    before = files_by_name(server, PROJECT)

    files_dir = server.data_dir / "files"
    original = contents(LocalStorage(files_dir))
    # Three distributions, each with its metadata and sidecar, and the access snapshots
    # (users, roles, yanks: storage holds them too, and a mirror carries them).
    snapshots = sum(key.startswith(".access/") for key in original)
    assert len(original) - snapshots == 9 and snapshots >= 1
    n = len(original)
    s3_url = f"s3://{s3_bucket}/backup?addressing=path"

    # local -> S3 -> a fresh local directory: the same bytes under the same keys.
    counts, out, _ = mirror(files_dir.as_uri(), s3_url)
    assert counts == (n, n, 0, 0, 0), out
    assert contents(open_storage(s3_url)) == original
    restored_data = tmp_path / "restored"
    counts, _, _ = mirror(s3_url, (restored_data / "files").as_uri())
    assert counts == (n, n, 0, 0, 0)
    assert contents(LocalStorage(restored_data / "files")) == original

    # Resumed: an earlier run stopped after the first wheel's bytes and metadata.
    partial = tmp_path / "partial"
    first = f"{PROJECT}/{files[0].name}"
    assert first in original
    for key in (first, first + ".metadata"):
        (partial / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files_dir / key, partial / key)
    counts, out, _ = mirror(s3_url, partial.as_uri())
    assert counts == (n, n - 2, 2, 0, 0), out
    assert f"copied {first}.json" in out and f"copied {first}\n" not in out
    assert contents(LocalStorage(partial)) == original

    # A target object that differs is a conflict: reported, left alone, and the run fails.
    tampered = (partial / first).read_bytes() + b"tampered"
    (partial / first).write_bytes(tampered)
    counts, _, err = mirror(s3_url, partial.as_uri(), code=1)
    assert counts == (n, 0, n - 1, 1, 0)
    assert f"conflict: {first}: the target holds other bytes" in err
    assert err.strip().splitlines()[-1].startswith("error: the mirror is incomplete")
    assert (partial / first).read_bytes() == tampered

    # Restore: users, roles and tokens from an export, files from the mirror, the catalog
    # rebuilt.
    token, _ = pubkit("token", "create", "--user", "alice", "--project", PROJECT,
                      "--data-dir", server.data_dir)  # fmt: skip
    token = token.strip()
    access = tmp_path / "access.json"
    pubkit("index", "export", access, "--data-dir", server.data_dir)
    assert token.split("_", 2)[2] not in access.read_text()  # its hash only
    # The order of docs/operations.md: the rebuild restores the files and the access state
    # the mirrored snapshots hold, then the import adds what came after them (the token).
    out, _ = pubkit("index", "rebuild", "--data-dir", restored_data)
    assert "3 files in storage: 3 added" in out
    assert "owner restored" not in out  # the snapshot brought the roles
    out, _ = pubkit("index", "import", access, "--data-dir", restored_data)
    assert "users 0 added" in out and "tokens 1 added" in out, out
    # Not start_server: its users are the imported ones, not added again.
    restored = LiveServer(restored_data).start()
    try:
        # Same files, hashes, sizes, metadata hashes, upload times and yank state.
        assert files_by_name(restored, PROJECT) == before
        # alice's password came over as its hash: she logs in and uploads to her project.
        accepted = twine_upload(restored, [make_wheel(dists, PROJECT, "3.0")], "alice")
        assert accepted.returncode == 0, output(accepted)
        # Her token, created before the export, works on the restored server.
        by_token = twine_upload(restored, [make_wheel(dists, PROJECT, "3.1")], "__token__", token)
        assert by_token.returncode == 0, output(by_token)
        refused = twine_upload(restored, [make_wheel(dists, "e2e-elsewhere", "1.0")],
                               "__token__", token)  # fmt: skip
        assert refused.returncode != 0 and "403 Forbidden" in refused.stdout, output(refused)
    finally:
        restored.stop()
