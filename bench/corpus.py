"""Generate tiny but valid wheels and sdists for the benchmark corpus.

Everything is built in memory with zipfile/tarfile, so 22,000 files take seconds, and is cached
under ``bench/.corpus-*`` with a ``done`` marker written last.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import shutil
import tarfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
STATE_DIR = BENCH_DIR / ".state"  # seeded server data dirs, one per server kind and corpus
_DATE = (2024, 1, 1, 0, 0, 0)
_TAG = "py3-none-any"
BIG_SIZE = 200 * 1024 * 1024


@dataclass(frozen=True)
class Dist:
    """One distribution file of the corpus and the fields the legacy upload API wants."""

    path: Path
    name: str
    version: str
    filetype: str  # "bdist_wheel" or "sdist"

    @property
    def pyversion(self) -> str:
        return "py3" if self.filetype == "bdist_wheel" else "source"


@dataclass(frozen=True)
class CorpusSpec:
    projects: int
    releases: int
    sdist: bool = True

    @property
    def key(self) -> str:
        return f"{self.projects}-{self.releases}" + ("" if self.sdist else "-nosdist")

    @property
    def files_per_project(self) -> int:
        return self.releases + (1 if self.sdist else 0)

    @property
    def total_files(self) -> int:
        return self.projects * self.files_per_project


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_name(name: str) -> str:
    """The file-name form of a project name (PEP 427 / PEP 625)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def project_name(index: int) -> str:
    return f"bench-pkg-{index:05d}"


def release_version(index: int) -> str:
    return f"1.{index}.0"


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def metadata_text(name: str, version: str, requires: Sequence[str] = ()) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        "Summary: pubkit benchmark corpus package",
        "Requires-Python: >=3.8",
    ]
    lines += [f"Requires-Dist: {req}" for req in requires]
    return "\n".join(lines) + "\n\n"


def _zinfo(arcname: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=_DATE)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def wheel_filename(name: str, version: str) -> str:
    return f"{dist_name(name)}-{version}-{_TAG}.whl"


def wheel_bytes(name: str, version: str, requires: Sequence[str] = ()) -> bytes:
    """A minimal valid pure-Python wheel: one module plus METADATA, WHEEL and RECORD."""
    dist = dist_name(name)
    info_dir = f"{dist}-{version}.dist-info"
    members = {
        f"{dist}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        f"{info_dir}/METADATA": metadata_text(name, version, requires).encode(),
        f"{info_dir}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: pubkit-bench\nRoot-Is-Purelib: true\nTag: {_TAG}\n\n"
        ).encode(),
    }
    record = "".join(f"{arc},{_record_hash(data)},{len(data)}\n" for arc, data in members.items())
    members[f"{info_dir}/RECORD"] = (record + f"{info_dir}/RECORD,,\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for arc, data in members.items():
            zf.writestr(_zinfo(arc), data)
    return buf.getvalue()


def sdist_filename(name: str, version: str) -> str:
    return f"{dist_name(name)}-{version}.tar.gz"


def sdist_bytes(name: str, version: str) -> bytes:
    """A minimal sdist: PKG-INFO, pyproject.toml and the module."""
    dist = dist_name(name)
    root = f"{dist}-{version}"
    members = {
        f"{root}/PKG-INFO": metadata_text(name, version).encode(),
        f"{root}/pyproject.toml": (
            f'[project]\nname = "{name}"\nversion = "{version}"\n'
            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        ).encode(),
        f"{root}/src/{dist}/__init__.py": f'__version__ = "{version}"\n'.encode(),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        for arc, data in members.items():
            ti = tarfile.TarInfo(arc)
            ti.size = len(data)
            ti.mtime = 1704067200
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def project_dists(folder: Path, name: str, releases: int, sdist: bool) -> list[Dist]:
    """Describe (without writing) the files of one project."""
    versions = [release_version(r) for r in range(releases)]
    dists = [Dist(folder / wheel_filename(name, v), name, v, "bdist_wheel") for v in versions]
    if sdist:
        version = release_version(releases - 1)
        dists.append(Dist(folder / sdist_filename(name, version), name, version, "sdist"))
    return dists


def write_dist(dist: Dist, requires: Sequence[str] = ()) -> None:
    if dist.filetype == "sdist":
        _write(dist.path, sdist_bytes(dist.name, dist.version))
    else:
        _write(dist.path, wheel_bytes(dist.name, dist.version, requires))


def _marked(root: Path) -> bool:
    return (root / "done").exists()


def _reset(root: Path) -> Path:
    if root.exists():
        shutil.rmtree(root)
    files = root / "files"
    files.mkdir(parents=True)
    return files


def state_path(kind: str, spec: CorpusSpec) -> Path:
    """Where the seeded state of server ``kind`` (pubkit, devpi) holding ``spec`` is cached."""
    return STATE_DIR / f"{kind}-{spec.key}"


def corpus_dir(spec: CorpusSpec) -> Path:
    return BENCH_DIR / f".corpus-{spec.key}"


def build_corpus(spec: CorpusSpec) -> list[Dist]:
    """Build (or reuse) the N x R corpus; returns every file with its upload fields."""
    root = corpus_dir(spec)
    files = root / "files"
    dists = [
        d
        for i in range(spec.projects)
        for d in project_dists(files, project_name(i), spec.releases, spec.sdist)
    ]
    if _marked(root):
        return dists
    _reset(root)
    for dist in dists:
        write_dist(dist)
    (root / "done").write_text(f"{len(dists)}\n")
    return dists


def _build_extra(root: Path, dists: Iterable[tuple[Dist, Sequence[str]]]) -> list[Dist]:
    items = list(dists)
    if not _marked(root):
        _reset(root)
        for dist, requires in items:
            write_dist(dist, requires)
        (root / "done").write_text(f"{len(items)}\n")
    return [dist for dist, _ in items]


PIP_APP = "bench-pipapp"


def build_pip_set() -> list[Dist]:
    """``bench-pipapp`` with five generated dependencies, for the pip install comparison."""
    files = BENCH_DIR / ".corpus-extra" / "pip" / "files"
    deps = [f"bench-pipdep-{i}" for i in range(1, 6)]
    items: list[tuple[Dist, Sequence[str]]] = [
        (Dist(files / wheel_filename(dep, "1.0.0"), dep, "1.0.0", "bdist_wheel"), ())
        for dep in deps
    ]
    app = Dist(files / wheel_filename(PIP_APP, "1.0.0"), PIP_APP, "1.0.0", "bdist_wheel")
    items.append((app, [f"{dep}>=1.0" for dep in deps]))
    return _build_extra(files.parent, items)


def build_twine_set(count: int = 200) -> list[Dist]:
    """``count`` wheels that no server has seen before (20 projects x 10 versions)."""
    files = BENCH_DIR / ".corpus-extra" / f"twine-{count}" / "files"
    items: list[tuple[Dist, Sequence[str]]] = []
    for i in range(count):
        name, version = f"bench-twine-{i // 10:03d}", f"2.{i % 10}.0"
        dist = Dist(files / wheel_filename(name, version), name, version, "bdist_wheel")
        items.append((dist, ()))
    return _build_extra(files.parent, items)


def build_big_wheel(size: int = BIG_SIZE) -> Dist:
    """A wheel with one ``size``-byte incompressible stored member (for the upload RSS test)."""
    root = BENCH_DIR / ".corpus-extra" / f"big-{size}"
    name, version = "bench-big", "1.0.0"
    dist = Dist(root / "files" / wheel_filename(name, version), name, version, "bdist_wheel")
    if _marked(root):
        return dist
    _reset(root)
    _write_big_wheel(dist, size)
    (root / "done").write_text("1\n")
    return dist


def _write_big_wheel(dist: Dist, size: int) -> None:
    dist_dir = dist_name(dist.name)
    info_dir = f"{dist_dir}-{dist.version}.dist-info"
    small = {
        f"{info_dir}/METADATA": metadata_text(dist.name, dist.version).encode(),
        f"{info_dir}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: pubkit-bench\nRoot-Is-Purelib: true\nTag: {_TAG}\n\n"
        ).encode(),
    }
    blob_arc = f"{dist_dir}/blob.bin"
    with zipfile.ZipFile(dist.path, "w", allowZip64=True) as zf:
        info = zipfile.ZipInfo(blob_arc, date_time=_DATE)
        info.compress_type = zipfile.ZIP_STORED
        sha = hashlib.sha256()
        with zf.open(info, "w", force_zip64=True) as out:
            left = size
            while left:
                chunk = os.urandom(min(left, 1 << 20))
                sha.update(chunk)
                out.write(chunk)
                left -= len(chunk)
        blob_hash = "sha256=" + base64.urlsafe_b64encode(sha.digest()).rstrip(b"=").decode()
        record = f"{blob_arc},{blob_hash},{size}\n"
        for arc, data in small.items():
            zf.writestr(_zinfo(arc), data)
            record += f"{arc},{_record_hash(data)},{len(data)}\n"
        zf.writestr(_zinfo(f"{info_dir}/RECORD"), record + f"{info_dir}/RECORD,,\n")
