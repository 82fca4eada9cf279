"""The web interface in chromium against a live server: browse and search, sign in, tokens
used with pip, administration seen in the audit log, what strangers cannot see, CSRF and
sign-out (tests/ui/test_accessibility.py checks every page with axe-core)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from pubkit.testing import LiveServer
from tests.e2e.support import client_env
from tests.ui.support import PASSWORDS, PRIVATE, open_page


def pip_download(server: LiveServer, project: str, target: Path,
                 credentials: tuple[str, str]) -> subprocess.CompletedProcess[str]:  # fmt: skip
    user, password = credentials
    index = server.simple_url.replace("http://", f"http://{user}:{password}@")
    return subprocess.run(
        [sys.executable, "-m", "pip", "download", "--isolated", "--no-cache-dir",
         "--disable-pip-version-check", "--no-input", "--no-deps", "--index-url", index,
         "--dest", str(target), project],
        env=client_env(), capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def test_browse_search_and_a_project_page(browser: Any, server: LiveServer) -> None:
    visit = open_page(browser, server.url)
    visit.go("/")  # a browser asking for the root gets the interface
    assert visit.page.url.endswith("/ui/")
    names = visit.page.locator("ul.projects li > a").all_inner_texts()
    assert names == ["acme-api", "acme-cli", "acme-core", "widgets"]
    assert "4 projects" in visit.page.inner_text("p.count")
    visit.page.get_by_label("Search projects by name or summary").fill("core models")
    visit.page.get_by_role("button", name="Search").click()
    assert visit.page.locator("ul.projects li > a").all_inner_texts() == ["acme-core"]
    visit.page.get_by_role("link", name="acme-core").click()
    page = visit.page
    assert page.locator("main > h1").inner_text().startswith("acme-core 1.1")
    # The README as PyPI renders it, its script shown as text, never run.
    assert page.locator(".rendered h2").first.inner_text() == "Usage"
    assert "<script>" in page.locator(".rendered").inner_text()
    assert page.title() == "acme-core · pubkit"
    assert f"pip install --index-url {server.simple_url} acme-core==1.1" in page.inner_text("main")
    assert "ARG PIP_INDEX_URL=" in page.inner_text("main")
    used_by = page.locator("h3:text('Used by') + ul li").all_inner_texts()
    assert used_by == ["acme-api"]
    files = page.locator("table tbody tr").all_inner_texts()
    assert any("acme_core-1.0-py3-none-any.whl" in row and "olga" in row for row in files)
    assert "sha256" in files[0] and "available" in files[0]
    page.get_by_role("link", name="acme-api").click()
    depends = page.locator("h3:text('Depends on') + ul li").all_inner_texts()
    assert depends == ["acme-core"]  # secret-sauce is private: not to this visitor
    assert visit.csp_violations() == []


def test_sign_in_create_a_token_use_it_with_pip_and_revoke_it(
    browser: Any, server: LiveServer, tmp_path: Path
) -> None:
    visit = open_page(browser, server.url)
    visit.sign_in("olga")
    page = visit.page
    assert "Signed in as olga" in page.inner_text("header")
    # A private project she owns is in her list.
    assert PRIVATE in page.locator("ul.projects li > a").all_inner_texts()
    page.get_by_role("link", name="Account").click()
    page.get_by_label("Permission").select_option("read")
    page.get_by_label("Description").fill("laptop")
    page.get_by_label("Expires in days (empty: never)").fill("30")
    page.get_by_role("button", name="Create the token").click()
    secret = page.inner_text("#token-secret").strip()
    assert re.fullmatch(r"pubkit_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", secret)
    token_id = secret.split("_")[1]
    page.reload()  # shown once: a reload shows its id, never the secret again
    assert secret not in page.content() and token_id in page.content()

    fetched = pip_download(server, PRIVATE, tmp_path / "one", ("__token__", secret))
    assert fetched.returncode == 0, fetched.stderr
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["secret_sauce-0.9-py3-none-any.whl"]

    page.get_by_role("button", name=f"Revoke {token_id}").click()
    assert f"Revoked token {token_id}" in page.inner_text(".flash")
    refused = pip_download(server, PRIVATE, tmp_path / "two", ("__token__", secret))
    assert refused.returncode != 0
    assert "No matching distribution found for secret-sauce" in refused.stderr
    answer = requests.get(f"{server.simple_url}{PRIVATE}/", auth=("__token__", secret), timeout=30)
    assert answer.status_code == 401  # what pip met: the token no longer signs in


def test_an_administrator_acts_and_sees_each_action_in_the_audit_log(
    browser: Any, server: LiveServer
) -> None:
    visit = open_page(browser, server.url)
    visit.sign_in("root")
    page = visit.page
    page.get_by_role("link", name="Users").click()
    page.get_by_label("Name").fill("nina")
    page.get_by_label("Password (at least 8 characters)").fill("nina-ui-password")
    page.get_by_role("button", name="Add the user").click()
    assert "Added user nina." in page.inner_text(".flash")
    page.get_by_role("link", name="Groups").click()
    page.get_by_label("Name").fill("ops")
    page.get_by_role("button", name="Add the group").click()
    page.get_by_label("Add a member to @ops").fill("nina")
    page.get_by_role("button", name="Add to @ops").click()
    assert "nina is a member of @ops." in page.inner_text(".flash")

    visit.go("/ui/project/widgets/")
    page.get_by_label("User or @group").fill("@ops")
    page.get_by_label("Role", exact=True).select_option("maintainer")
    page.get_by_role("button", name="Grant the role").click()
    assert "@ops is now maintainer of widgets." in page.inner_text(".flash")
    assert "@ops" in page.locator("#manage ~ table").inner_text()
    page.get_by_role("button", name="Make it private").click()
    assert "widgets is now private." in page.inner_text(".flash")
    page.get_by_label("Reason").fill("broken build")
    page.get_by_role("button", name="Yank 5.2").click()
    assert "yanked: broken build" in page.locator("table").first.inner_text()

    page.get_by_role("link", name="Audit log").click()
    log = page.locator("table tbody").inner_text()
    for action, target in (("add user", "nina"), ("add group", "@ops"),
                           ("add member", "@ops"), ("grant role", "widgets"),
                           ("make private", "widgets"), ("yank", "widgets 5.2")):  # fmt: skip
        assert re.search(rf"root\s+\S+\s+{action}\s+{re.escape(target)}", log), (action, log)
    page.get_by_label("Action").select_option("yank")
    page.get_by_label("Target (project, user, @group)").fill("widgets")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table tbody tr").all_inner_texts()
    assert len(rows) == 1 and "broken build" in rows[0]
    # Make it public again and let root's yank stand; the stranger test reads widgets' state.
    visit.go("/ui/project/widgets/")
    page.get_by_role("button", name="Make it public").click()
    assert "widgets is now public." in page.inner_text(".flash")


def test_a_stranger_cannot_see_the_private_project_anywhere(
    browser: Any, server: LiveServer
) -> None:
    for who in (None, "mo"):
        visit = open_page(browser, server.url)
        if who:
            visit.sign_in(who)
        else:
            visit.go("/ui/")
        page = visit.page
        listed = page.locator("ul.projects li > a").all_inner_texts()
        assert PRIVATE not in listed and "4 projects" in page.inner_text("p.count"), who
        visit.go("/ui/?q=recipe")
        assert page.locator("ul.projects li").count() == 0
        assert "0 projects" in page.inner_text("p.count")
        answers = []
        for project in (PRIVATE, "no-such-thing"):
            answer = visit.go(f"/ui/project/{project}/")
            answers.append((answer.status, answer.text().replace(project, "X")))
        assert answers[0] == answers[1] and answers[0][0] == 404, who
        # acme-api's own (public) metadata names it; the index's links between projects not.
        visit.go("/ui/project/acme-api/")
        assert page.locator("h3:text('Depends on') + ul li").all_inner_texts() == ["acme-core"]
        assert page.locator(f"a[href*='{PRIVATE}']").count() == 0
    # The API's search, for mo as for the page.
    found = requests.get(f"{server.url}api/v1/projects", params={"q": "sauce"},
                         auth=("mo", PASSWORDS["mo"]), timeout=30).json()  # fmt: skip
    assert found == {"total": 0, "projects": []}
    owner = requests.get(f"{server.url}api/v1/projects", params={"q": "sauce"},
                         auth=("olga", PASSWORDS["olga"]), timeout=30).json()  # fmt: skip
    assert [p["name"] for p in owner["projects"]] == [PRIVATE]


def test_forms_fail_without_their_csrf_token(browser: Any, server: LiveServer) -> None:
    visit = open_page(browser, server.url)
    visit.sign_in("root")
    page = visit.page
    page.get_by_role("link", name="Users").click()
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    page.get_by_label("Name").fill("mallory")
    page.get_by_label("Password (at least 8 characters)").fill("mallory-password")
    with page.expect_response(lambda r: r.url.endswith("/ui/admin/users/add")) as answer:
        page.get_by_role("button", name="Add the user").click()
    assert answer.value.status == 403
    assert "did not come from this site" in page.inner_text(".error")
    visit.go("/ui/admin/users")
    assert "mallory" not in page.inner_text("main")
    # The sign-in form too: a token of another page's cookie is refused.
    other = open_page(browser, server.url)
    other.go("/ui/signin")
    other.page.evaluate("document.querySelector('input[name=csrf]').value = 'forged-value-x'")
    other.page.get_by_label("User name").fill("olga")
    other.page.get_by_label("Password").fill(PASSWORDS["olga"])
    with other.page.expect_response(lambda r: r.url.endswith("/ui/signin")) as answer:
        other.page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 403


def test_sign_out_ends_the_session_on_the_server(browser: Any, server: LiveServer) -> None:
    visit = open_page(browser, server.url)
    visit.sign_in("olga")
    cookies = {c["name"]: c for c in visit.page.context.cookies()}
    session = cookies["pubkit_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    jar = {"pubkit_session": session["value"]}
    assert requests.get(f"{server.url}ui/account", cookies=jar, timeout=30,
                        allow_redirects=False).status_code == 200  # fmt: skip
    visit.page.get_by_role("button", name="Sign out").click()
    assert "Signed out." in visit.page.inner_text(".flash")
    # The cookie, replayed after sign-out, signs nobody in: the server forgot the session.
    replayed = requests.get(f"{server.url}ui/account", cookies=jar, timeout=30,
                            allow_redirects=False)  # fmt: skip
    assert replayed.status_code == 303 and replayed.headers["location"] == "/ui/signin"
