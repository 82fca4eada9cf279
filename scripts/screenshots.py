"""Regenerate the screenshots of the web interface that the README shows (docs/screenshots/).

Starts a live index in a temp dir, seeds it as the browser tests do (tests/ui/support.py),
and photographs the pages in Debian's chromium:

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from pubkit.testing import LiveServer  # noqa: E402
from tests.ui.support import CHROMIUM, chromium_missing, open_page, seed  # noqa: E402

# file name, who is signed in, path, viewport width
SHOTS = [
    ("browse.png", None, "/ui/", 1280),
    ("search.png", None, "/ui/?q=acme", 1280),
    ("project.png", "olga", "/ui/project/acme-api/", 1280),
    ("account.png", "olga", "/ui/account", 1280),
    ("users.png", "root", "/ui/admin/users", 1280),
    ("audit.png", "root", "/ui/admin/audit", 1280),
    ("project-mobile.png", None, "/ui/project/acme-core/", 375),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    options = parser.parse_args()
    missing = chromium_missing()
    if missing is not None:
        print(f"error: {missing}", file=sys.stderr)
        return 1
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(Path(tmp) / "data").start()
        try:
            seed(server, Path(tmp) / "dists")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM)
                for name, who, path, width in SHOTS:
                    visit = open_page(browser, server.url, width)
                    if who is not None:
                        visit.sign_in(who)
                    visit.go(path)
                    if name == "account.png":  # a token just created, shown once
                        visit.page.get_by_label("Description").fill("laptop")
                        visit.page.get_by_role("button", name="Create the token").click()
                    height = 800 if width > 500 else 1400
                    visit.page.set_viewport_size({"width": width, "height": height})
                    visit.page.screenshot(path=str(options.out / name))
                    visit.page.context.close()
                    print(options.out / name)
                browser.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
