"""axe-core on every page of the web interface, at a desktop width and at 375 px: no serious
or critical violation, no page wider than the screen, nothing the Content-Security-Policy
had to block (no inline script or style)."""

from __future__ import annotations

from typing import Any

import pytest

from pubkit.testing import LiveServer
from tests.ui.support import axe_source, axe_violations, open_page

# (who is signed in, path): every page, as the visitor who sees most of it.
PAGES = [
    (None, "/ui/"),
    (None, "/ui/?q=acme"),
    (None, "/ui/signin"),
    (None, "/ui/project/acme-core/"),
    (None, "/ui/project/no-such-thing/"),
    ("olga", "/ui/account"),
    ("olga", "/ui/project/secret-sauce/"),
    ("mo", "/ui/admin/users"),  # 403
    ("root", "/ui/project/acme-api/"),
    ("root", "/ui/admin/users"),
    ("root", "/ui/admin/groups"),
    ("root", "/ui/admin/audit"),
    ("root", "/ui/admin/audit?action=upload"),
]
WIDTHS = (1280, 375)


@pytest.fixture(scope="module")
def axe() -> str:
    source = axe_source()
    if source is None:
        pytest.skip("axe-core is not installed: npm install --prefix ~/.cache/pubkit-axe"
                    " axe-core, or set AXE_CORE_JS (.ci/run does)")  # fmt: skip
    return source


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_is_accessible_and_fits(
    browser: Any, server: LiveServer, axe: str, width: int
) -> None:
    problems: dict[str, list[str]] = {}
    visits = {}
    for who, path in PAGES:
        if who not in visits:
            visits[who] = open_page(browser, server.url, width)
            if who is not None:
                visits[who].sign_in(who)
        visit = visits[who]
        visit.go(path)
        found = axe_violations(visit.page, axe)
        overflow = visit.page.evaluate("document.documentElement.scrollWidth")
        if overflow > width:
            found.append(f"the page is {overflow} px wide on a {width} px screen")
        if found:
            problems[f"{who or 'anonymous'} {path}"] = found
    # The page that shows a new token, once (the answer to a form).
    visit = visits["olga"]
    visit.go("/ui/account")
    visit.page.get_by_role("button", name="Create the token").click()
    found = axe_violations(visit.page, axe)
    if found:
        problems["olga, a new token"] = found
    for who, visit in visits.items():
        assert visit.csp_violations() == [], who
    assert not problems, problems

