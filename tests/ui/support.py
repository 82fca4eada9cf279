"""A live index seeded for the web interface's browser tests and screenshots, and the
browser helpers they share (Playwright driving Debian's chromium; axe-core injected)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from pubkit.testing import LiveServer, core_metadata, make_wheel
from tests.server.conftest import upload_fields

CHROMIUM = "/usr/bin/chromium"
PASSWORDS = {"root": "root-ui-password", "olga": "olga-ui-password", "mo": "mo-ui-password"}
README = """# {name}

{summary}.

## Usage

```python
import {module}
print({module}.__version__)
```

<script>document.title = "pwned"</script>
"""

# name, version, summary, requirements, uploader
PROJECTS: Sequence[tuple[str, str, str, tuple[str, ...], str]] = (
    ("acme-core", "1.0", "Core models of the Acme monorepo", (), "olga"),
    ("acme-core", "1.1", "Core models of the Acme monorepo", (), "olga"),
    ("acme-api", "2.0", "The HTTP API of Acme", ("acme-core>=1.0", "secret-sauce"), "olga"),
    ("acme-cli", "0.3", "Command line tools for Acme", ("acme-api", "requests"), "olga"),
    ("widgets", "5.2", "Small reusable widgets", (), "root"),
    ("secret-sauce", "0.9", "The recipe nobody outside may see", (), "olga"),
)
PRIVATE = "secret-sauce"


def chromium_missing() -> str | None:
    """Why browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return "chromium is not installed (apt-get install chromium; .ci/run installs it)"
    return None


def axe_source() -> str | None:
    """axe-core's script: $AXE_CORE_JS, or where .ci/run installs it."""
    candidates = [os.environ.get("AXE_CORE_JS", ""),
                  str(Path.home() / ".cache/pubkit-axe/node_modules/axe-core/axe.min.js")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text()
    return None


def upload(server: LiveServer, wheel: Path, user: str) -> None:
    files = {"content": (wheel.name, wheel.read_bytes(), "application/octet-stream")}
    answer = requests.post(server.url, data=upload_fields(wheel), files=files,
                           auth=(user, PASSWORDS[user]), timeout=60)  # fmt: skip
    assert answer.status_code == 200, answer.text


def seed(server: LiveServer, dists: Path) -> None:
    """Users root (admin), olga and mo; the projects above, secret-sauce private to olga."""
    for name, password in PASSWORDS.items():
        server.add_user(name, password, admin=name == "root")
    for name, version, summary, requires, uploader in PROJECTS:
        module = name.replace("-", "_")
        metadata = core_metadata(name, version, requires, summary=summary).split("\n\n")[0]
        metadata += "\n\n" + README.format(name=name, summary=summary, module=module)
        upload(server, make_wheel(dists / uploader, name, version, metadata=metadata), uploader)
    answer = requests.put(f"{server.url}api/v1/projects/{PRIVATE}/visibility",
                          json={"private": True}, auth=("olga", PASSWORDS["olga"]),
                          timeout=30)  # fmt: skip
    assert answer.status_code == 204, answer.text


@dataclass
class Browsing:
    """One page of one browser context, with the console messages it logged."""

    page: Any
    base: str
    console: list[str]

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path.lstrip("/"))

    def sign_in(self, user: str, password: str | None = None) -> None:
        self.go("/ui/signin")
        self.page.get_by_label("User name").fill(user)
        self.page.get_by_label("Password").fill(password or PASSWORDS[user])
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(re.compile(r".*/ui/$"))

    def csp_violations(self) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m]


def open_page(browser: Any, base: str, width: int = 1280) -> Browsing:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    return Browsing(page, base, console)


def axe_violations(page: Any, source: str) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    page.evaluate(source)
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => v.id + ' (' + v.impact + '): '"
        " + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )
    return [str(line) for line in found]
