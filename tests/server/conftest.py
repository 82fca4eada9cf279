"""The app in-process: real storage and SQLite catalog in a temp dir, no sockets."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from pubkit.server import admin
from pubkit.server.app import create_app
from pubkit.server.catalog import Catalog, open_catalog
from pubkit.server.services import Services
from pubkit.settings import load_server_settings
from tests.conftest import postgres_database
from tests.upstream_support import StaticIndex, static_index

PASSWORD = "correct-horse-battery"


def basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def upload_fields(path: Path, **overrides: str | None) -> dict[str, str]:
    """The form fields twine sends for ``path``; ``None`` removes a field."""
    data = path.read_bytes()
    name, version = path.name.split("-")[:2]
    version = version.removesuffix(".tar.gz")
    fields: dict[str, str | None] = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": name,
        "version": version,
        "filetype": "bdist_wheel" if path.name.endswith(".whl") else "sdist",
        "pyversion": "py3" if path.name.endswith(".whl") else "source",
        "metadata_version": "2.1",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
        "md5_digest": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "blake2_256_digest": hashlib.blake2b(data, digest_size=32).hexdigest(),
    }
    fields.update(overrides)
    return {key: value for key, value in fields.items() if value is not None}


@dataclass
class Index:
    """An in-process server and shortcuts to drive it."""

    client: TestClient
    services: Services
    data_dir: Path

    @property
    def catalog(self) -> Catalog:
        return self.services.catalog

    def admin(self, actor: str | None = "root") -> admin.Admin:
        """The admin operations on this index's data, as ``actor``."""
        return admin.Admin(self.catalog, lambda: self.services.storage, actor)

    def add_user(self, name: str, admin_: bool = False) -> None:
        admin.add_user(self.catalog, name, PASSWORD, admin_)

    def upload(
        self,
        path: Path,
        user: str | None = "alice",
        filename: str | None = None,
        **fields: str | None,
    ):  # type: ignore[no-untyped-def]
        headers = basic(user) if user else {}
        files = {"content": (filename or path.name, path.read_bytes(), "application/octet-stream")}
        return self.client.post(
            "/", data=upload_fields(path, **fields), files=files, headers=headers
        )


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash new passwords with a small scrypt cost: the format records it, so checks still work."""
    monkeypatch.setattr("pubkit.server.auth.passwords.LOG2_N", 10)


@pytest.fixture
def catalogs(tmp_path: Path) -> Iterator[Any]:
    """``make(backend)``: a fresh, empty catalog on "sqlite" or "postgresql"."""
    with ExitStack() as stack:
        opened: list[Catalog] = []

        def make(backend: str) -> Catalog:
            if backend == "sqlite":
                url = f"sqlite:///{tmp_path / f'catalog-{len(opened)}.sqlite3'}"
            else:
                url = stack.enter_context(postgres_database("pubkit_catalogs"))
            catalog = open_catalog(url)
            opened.append(catalog)
            return catalog

        yield make
        for catalog in opened:
            catalog.close()


@pytest.fixture
def index(data_dir: Path) -> Iterator[Index]:
    settings = load_server_settings({"data_dir": data_dir}, environ={})
    app = create_app(settings)
    with TestClient(app) as client:
        idx = Index(client, app.state.services, data_dir)
        idx.add_user("alice")
        idx.add_user("bob")
        idx.add_user("root", admin_=True)
        yield idx


# -- an upstream index (tests/upstream_support.py) and servers in front of it ----------------

MakeIndex = Callable[..., Index]


@pytest.fixture
def upstream() -> Iterator[StaticIndex]:
    with static_index() as index:
        yield index


@pytest.fixture
def make_index(data_dir: Path, upstream: StaticIndex) -> Iterator[MakeIndex]:
    clients: list[TestClient] = []

    def make(**settings: Any) -> Index:
        values = {"data_dir": data_dir, "upstream": upstream.simple_url,
                  "upstream_timeout": "2", **settings}  # fmt: skip
        app = create_app(load_server_settings(values, environ={}))
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        index = Index(client, app.state.services, data_dir)
        if index.catalog.user("alice") is None:
            index.add_user("alice")
            index.add_user("root", admin_=True)
        return index

    yield make
    for client in clients:
        client.__exit__(None, None, None)
