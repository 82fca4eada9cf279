from __future__ import annotations

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from pubkit.errors import ConfigurationError, UsageError
from pubkit.releasing.core.versioning import (
    BUMP_PARTS,
    DEFAULT_TAG_FORMAT,
    BumpPart,
    ConventionalCommit,
    ParsedTag,
    ReleasePart,
    ReleaseTag,
    TagFormat,
    bump,
    bump_for_commits,
    dev_version,
    format_requirement,
    latest_release_tag,
    next_version_conventional,
    parse_conventional_commit,
    parse_tag,
    parse_version,
    satisfies,
    tag_name,
    widen_requirement,
)

# ------------------------------------------------------------------------------ versions


@pytest.mark.parametrize("text", ["1.2.x", "", "latest", "1..2", "v"])
def test_parse_version_refuses_non_pep440(text: str) -> None:
    with pytest.raises(UsageError, match="is not a valid PEP 440 version; use a version"):
        parse_version(text)


def test_parse_version_passes_versions_through() -> None:
    version = Version("1.0")
    assert parse_version(version) is version
    assert parse_version("1.0.0-RC1") == Version("1.0.0rc1")


@pytest.mark.parametrize(
    ("current", "part", "expected"),
    [
        # major/minor/patch reset lower parts and drop every label.
        ("1.2.3", "major", "2.0.0"),
        ("1.2.3", "minor", "1.3.0"),
        ("1.2.3", "patch", "1.2.4"),
        ("0.9.9", "major", "1.0.0"),
        ("1.2.3.post4", "major", "2.0.0"),
        ("1.2.3.post4", "patch", "1.2.4"),
        ("1.2.3.post1.dev1", "patch", "1.2.4"),
        # A dev release of the target is that release.
        ("1.2.3.dev4", "patch", "1.2.3"),
        # Two parts stay two for major/minor; patch adds the third.
        ("1.2", "major", "2.0"),
        ("1.2", "minor", "1.3"),
        ("1.2", "patch", "1.2.1"),
        ("1", "major", "2"),
        ("1", "minor", "1.1"),
        ("1", "patch", "1.0.1"),
        # Four parts: the fourth is reset by every bump, so it is dropped.
        ("1.2.3.4", "major", "2.0.0"),
        ("1.2.3.4", "minor", "1.3.0"),
        ("1.2.3.4", "patch", "1.2.4"),
        # Epochs are kept.
        ("1!1.2.3", "major", "1!2.0.0"),
        ("2!1.0", "pre", "2!1.0.1rc1"),
        ("2!1.0", "dev", "2!1.0.1.dev1"),
        # pre
        ("1.2.3", "pre", "1.2.4rc1"),
        ("1.2.3.post2", "pre", "1.2.4rc1"),
        ("1.2", "pre", "1.2.1rc1"),
        ("1.2.4rc1", "pre", "1.2.4rc2"),
        ("1.2.4a3", "pre", "1.2.4a4"),
        ("1.2.4b1", "pre", "1.2.4b2"),
        ("1.2.4rc1.dev3", "pre", "1.2.4rc1"),
        ("1.2.4rc1.post1", "pre", "1.2.4rc2"),
        ("1.2.4.dev3", "pre", "1.2.4rc1"),
        ("1.2.3.post1.dev1", "pre", "1.2.4rc1"),
        # dev
        ("1.2.3", "dev", "1.2.4.dev1"),
        ("1.2.4.dev1", "dev", "1.2.4.dev2"),
        ("1.2.4rc1", "dev", "1.2.4rc2.dev1"),
        ("1.2.4rc1.dev1", "dev", "1.2.4rc1.dev2"),
        ("1.2.3.post1", "dev", "1.2.4.dev1"),
        ("1.2.3.post1.dev1", "dev", "1.2.3.post1.dev2"),
        ("1.2", "dev", "1.2.1.dev1"),
    ],
)
def test_bump(current: str, part: BumpPart, expected: str) -> None:
    result = bump(current, part)
    # Compare the text too: 1.2 == 1.2.0 to PEP 440, but not in a file or a tag.
    assert str(result) == expected
    assert bump(Version(current), part) == result


@pytest.mark.parametrize(
    ("current", "part", "expected"),
    [
        # A pre-release stays one: advanced in its phase when it heads for the bumped part.
        ("0.66b0", "patch", "0.66b1"),
        ("0.66b0", "pre", "0.66b1"),
        ("0.66b0", "minor", "0.66b1"),
        ("1.2.3rc1", "patch", "1.2.3rc2"),
        ("2.0.0rc1", "major", "2.0.0rc2"),
        ("1.3.0rc1", "minor", "1.3.0rc2"),
        ("1.2.3rc1.post1", "patch", "1.2.3rc2"),
        # ...and otherwise starts its phase on the bumped release.
        ("1.2.3rc1", "minor", "1.3.0rc1"),
        ("2.1.0b3", "major", "3.0.0b1"),
        # A dev build of a pre-release becomes it (never the final release).
        ("0.66b0.dev0", "patch", "0.66b0"),
        ("2.0.0b1.dev2", "major", "2.0.0b1"),
        ("1!1.2.3rc1", "patch", "1!1.2.3rc2"),
    ],
)
def test_bump_keeps_pre_releases(current: str, part: BumpPart, expected: str) -> None:
    assert str(bump(current, part)) == expected
    assert bump(current, part) > Version(current)


@pytest.mark.parametrize(
    ("current", "part", "expected"),
    [
        # --final ends the series: a pre/dev release of the target is finalised.
        ("1.2.3rc1.post1", "patch", "1.2.3"),
        ("1.2.3rc1", "patch", "1.2.3"),
        ("1.2.3rc1", "minor", "1.3.0"),
        ("1.3.0rc1", "minor", "1.3.0"),
        ("2.0.0rc1", "major", "2.0.0"),
        ("2.0.0b1.dev2", "major", "2.0.0"),
        ("2.1.0rc1", "major", "3.0.0"),
        ("1.2rc1", "patch", "1.2.0"),
        ("1.2.3.4rc1", "patch", "1.2.4"),
        ("1.2.3.0rc1", "patch", "1.2.3"),
        ("1!1.2.3rc1", "patch", "1!1.2.3"),
        ("0.66b0.dev0", "patch", "0.66.0"),
        ("1.2.3", "patch", "1.2.4"),
    ],
)
def test_bump_final(current: str, part: BumpPart, expected: str) -> None:
    assert str(bump(current, part, final=True)) == expected


_VERSIONS = [
    "0.1",
    "1",
    "1.2",
    "1.2.3",
    "1.2.3.4",
    "1!1.0",
    "1.2.3a1",
    "1.2.3b2",
    "1.2.3rc1",
    "1.2.3rc1.dev1",
    "1.2.3rc1.post1",
    "1.2.3.dev0",
    "1.2.3.post1",
    "1.2.3.post1.dev1",
    "2.0.0rc1",
    "1.0.0.0rc1",
]


@pytest.mark.parametrize("current", _VERSIONS)
@pytest.mark.parametrize("part", BUMP_PARTS)
def test_bump_always_moves_forward(current: str, part: BumpPart) -> None:
    result = bump(current, part)
    assert result > Version(current)
    assert result.local is None
    assert result.epoch == Version(current).epoch


@pytest.mark.parametrize("part", BUMP_PARTS)
def test_bump_refuses_local_versions(part: BumpPart) -> None:
    with pytest.raises(UsageError, match=r"local version label '\+cpu'.*release '1\.2\.3'"):
        bump("1.2.3+cpu", part)


def test_bump_refuses_unknown_part() -> None:
    with pytest.raises(UsageError, match="unknown version part 'mayor'; use one of major"):
        bump("1.0", "mayor")  # type: ignore[arg-type]


def test_bump_refuses_invalid_version() -> None:
    with pytest.raises(UsageError, match=r"'1\.2\.x' is not a valid PEP 440 version"):
        bump("1.2.x", "patch")


@pytest.mark.parametrize(
    ("base", "build", "expected"),
    [
        ("1.2.3", 7, "1.2.4.dev7"),
        ("1.2.3", 0, "1.2.4.dev0"),
        ("1.2", 5, "1.2.1.dev5"),
        ("1.2.3.4", 5, "1.2.4.dev5"),
        ("1.2.3.post2", 5, "1.2.4.dev5"),
        ("1!1.2.3", 5, "1!1.2.4.dev5"),
        # Already a dev release: the tree names the next release, only N changes.
        ("1.2.4.dev0", 7, "1.2.4.dev7"),
        ("1.2.4.dev9", 3, "1.2.4.dev3"),
        ("2.0rc1.dev0", 7, "2.0rc1.dev7"),
        ("1.2.3.post1.dev0", 7, "1.2.3.post1.dev7"),
        # A pre-release: builds head for the next pre-release.
        ("1.2.4rc1", 7, "1.2.4rc2.dev7"),
        ("1.2.4a3", 7, "1.2.4a4.dev7"),
    ],
)
def test_dev_version(base: str, build: int, expected: str) -> None:
    assert str(dev_version(base, build)) == expected


@pytest.mark.parametrize("base", ["1.2.3", "1.2", "1.2.3.post1", "1.2.4rc1", "1!0.9"])
def test_dev_builds_sort_between_current_and_next_release(base: str) -> None:
    current = Version(base)
    builds = [dev_version(base, n) for n in (0, 1, 9, 10, 12345)]
    next_releases = [bump(base, "patch"), bump(base, "pre")]
    assert builds == sorted(builds)
    for build in builds:
        assert current < build
        assert all(build < release for release in next_releases)


@pytest.mark.parametrize("build", [-1, True, 1.5, "7"])
def test_dev_version_refuses_bad_build_numbers(build: object) -> None:
    with pytest.raises(UsageError, match="build number must be a whole number of 0 or more"):
        dev_version("1.0", build)  # type: ignore[arg-type]


def test_dev_version_refuses_local_versions() -> None:
    with pytest.raises(UsageError, match="local version label"):
        dev_version("1.0+local", 1)


# ---------------------------------------------------------------------------------- tags


@pytest.mark.parametrize(
    ("fmt", "name", "version", "tag"),
    [
        (DEFAULT_TAG_FORMAT, "acme-core", "1.0.0", "acme-core-v1.0.0"),
        (DEFAULT_TAG_FORMAT, "Acme_Core", "1.0.0", "acme-core-v1.0.0"),
        (DEFAULT_TAG_FORMAT, "acme.core", "1.0-RC1", "acme-core-v1.0rc1"),
        (DEFAULT_TAG_FORMAT, "acme", "1!2.0.post1", "acme-v1!2.0.post1"),
        ("{name}/v{version}", "acme-core", "2.0.dev3", "acme-core/v2.0.dev3"),
        ("v{version}", "acme", "1.0", "v1.0"),
        ("release-{version}-{name}", "acme-aws", "1.2.3", "release-1.2.3-acme-aws"),
        ("{name}@{version}", "acme", "1.0", "acme@1.0"),
        ("{{{name}}}-{version}", "acme", "1.0", "{acme}-1.0"),
    ],
)
def test_tag_name_and_round_trip(fmt: str, name: str, version: str, tag: str) -> None:
    assert tag_name(fmt, name, version) == tag
    assert TagFormat(fmt).render(name, Version(version)) == tag
    parsed = parse_tag(fmt, tag)
    expected_name = (
        None if "{name}" not in fmt else name.lower().replace("_", "-").replace(".", "-")
    )
    assert parsed == ParsedTag(expected_name, Version(version))


@pytest.mark.parametrize(
    ("fmt", "tag", "expected"),
    [
        # The literal between name and version decides the split: never `acme` here.
        (DEFAULT_TAG_FORMAT, "acme-core-v1.0", ("acme-core", "1.0")),
        (DEFAULT_TAG_FORMAT, "acme-v2-v1.0", ("acme-v2", "1.0")),
        (DEFAULT_TAG_FORMAT, "acme-core-kafka-v3.1rc2", ("acme-core-kafka", "3.1rc2")),
        # Any spelling of the name and any PEP 440 spelling of the version.
        (DEFAULT_TAG_FORMAT, "Acme_Core-v1.0.0-RC1", ("acme-core", "1.0.0rc1")),
        (DEFAULT_TAG_FORMAT, "acme-vv1.0", ("acme", "1.0")),
        # Several splits fit: the canonically written version wins, then the longest name.
        ("{name}-{version}", "acme-2-1", ("acme-2", "1")),
        ("{name}-{version}", "acme-core-1.0", ("acme-core", "1.0")),
        ("{version}-{name}", "1.0-acme-core", ("acme-core", "1.0")),
        # A local version is still a version; latest_release_tag is what skips it.
        (DEFAULT_TAG_FORMAT, "acme-v1.0+local", ("acme", "1.0+local")),
    ],
)
def test_parse_tag(fmt: str, tag: str, expected: tuple[str, str]) -> None:
    assert parse_tag(fmt, tag) == ParsedTag(expected[0], Version(expected[1]))


@pytest.mark.parametrize(
    ("fmt", "tag"),
    [
        (DEFAULT_TAG_FORMAT, "acme-core-1.0"),  # no -v
        (DEFAULT_TAG_FORMAT, "acme-vlatest"),  # not PEP 440
        (DEFAULT_TAG_FORMAT, "acme-v1.2.x"),
        (DEFAULT_TAG_FORMAT, "acme-v"),
        (DEFAULT_TAG_FORMAT, "-v1.0"),  # no name
        (DEFAULT_TAG_FORMAT, "-acme-v1.0"),  # not a project name
        (DEFAULT_TAG_FORMAT, "v1.0"),
        (DEFAULT_TAG_FORMAT, ""),
        ("v{version}", "1.0"),
        ("v{version}", "v"),
        ("{name}/v{version}", "acme-v1.0"),
        ("release-{version}-{name}", "release-1.0"),
    ],
)
def test_parse_tag_refuses_other_tags(fmt: str, tag: str) -> None:
    assert parse_tag(fmt, tag) is None


@pytest.mark.parametrize(
    ("tag", "name", "expected"),
    [
        ("acme-core-v1.0", "acme-core", "1.0"),
        ("acme-core-v1.0", "Acme_Core", "1.0"),
        ("Acme.Core-v1.0", "acme-core", "1.0"),
        ("acme-core-v1.0", "acme", None),
        ("acme-v1.0", "acme-core", None),
        # Known name: what follows the literal prefix is the version.
        ("acme-2-1", "acme", "2.post1"),
    ],
)
def test_parse_tag_for_a_known_name(tag: str, name: str, expected: str | None) -> None:
    fmt = TagFormat("{name}-v{version}" if "-v" in tag else "{name}-{version}")
    parsed = fmt.parse(tag, name)
    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None
        assert parsed.version == Version(expected)


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("{name}-v", "has no {version}"),
        ("{name}-{ver}", "uses {ver}; only {name} and {version} are allowed"),
        ("{name}-{version:>8}", "uses {version:>8}"),
        ("{name}-{version!r}", "uses {version!r}"),
        ("{}-{version}", "uses {}"),
        ("{version}-{version}", "uses {version} twice"),
        ("{name}{version}", "side by side"),
        ("{name} v{version}", "contains ' ', which git does not allow"),
        ("{name}:{version}", "contains ':'"),
        ("{name}..{version}", "contains '..'"),
        ("{name}~{version}", "contains '~'"),
        ("{name}-v{version", "is not a valid format"),
    ],
)
def test_tag_format_refuses_bad_formats(fmt: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("{", r"\{").replace("(", r"\(")):
        TagFormat(fmt)
    with pytest.raises(ConfigurationError):
        parse_tag(fmt, "acme-v1.0")


def test_tag_format_knows_whether_it_names_the_package() -> None:
    assert TagFormat().has_name
    assert not TagFormat("v{version}").has_name


def test_tag_name_refuses_local_versions_and_bad_names() -> None:
    with pytest.raises(UsageError, match="local version label"):
        tag_name(DEFAULT_TAG_FORMAT, "acme", "1.0+abc")
    with pytest.raises(UsageError, match="not a valid project name"):
        tag_name(DEFAULT_TAG_FORMAT, "acme core", "1.0")
    with pytest.raises(UsageError, match="not a valid PEP 440 version"):
        tag_name(DEFAULT_TAG_FORMAT, "acme", "1.x")


_TAGS = [
    "acme-v0.9",
    "acme-v1.0",
    "acme-v1.1rc1",
    "acme-v1.0.post1",
    "acme-v1.2.dev3",  # a dev release pubkit tagged: it counts
    "acme-v1.3+local",  # never on an index
    "acme-core-v9.0",  # another package
    "acme-vnext",  # not a version
    "v5.0",
    "random",
]


@pytest.mark.parametrize(
    ("name", "tags", "expected"),
    [
        ("acme", _TAGS, ("acme-v1.2.dev3", "1.2.dev3")),
        ("acme", [t for t in _TAGS if "dev" not in t], ("acme-v1.1rc1", "1.1rc1")),
        ("acme", [t for t in _TAGS if "rc" not in t and "dev" not in t],
         ("acme-v1.0.post1", "1.0.post1")),
        ("acme", list(reversed(_TAGS)), ("acme-v1.2.dev3", "1.2.dev3")),
        ("acme-core", _TAGS, ("acme-core-v9.0", "9.0")),
        ("Acme_Core", _TAGS, ("acme-core-v9.0", "9.0")),
        # Dev tags count (pubkit tags only releases, never --dev builds): the change
        # detection of the next run diffs since them.
        ("acme", ["acme-v1.2.dev3", "acme-v2.0rc1.dev1"], ("acme-v2.0rc1.dev1", "2.0rc1.dev1")),
        ("acme", ["acme-v1.3+local"], None),
        ("acme-aws", _TAGS, None),
        ("acme", [], None),
        # Equal versions: the canonical spelling wins, then the alphabetically first tag,
        # whatever the order of the input.
        ("acme", ["acme-v1.0-RC1", "acme-v1.0rc1"], ("acme-v1.0rc1", "1.0rc1")),
        ("acme", ["acme-v1.0rc1", "acme-v1.0-RC1"], ("acme-v1.0rc1", "1.0rc1")),
        ("acme", ["acme-v1.0.0", "acme-v1.0", "acme-v1"], ("acme-v1", "1")),
        ("acme", ["acme-v1", "acme-v1.0", "acme-v1.0.0"], ("acme-v1", "1")),
    ],
)
def test_latest_release_tag(name: str, tags: list[str], expected: tuple[str, str] | None) -> None:
    result = latest_release_tag(DEFAULT_TAG_FORMAT, name, iter(tags))
    if expected is None:
        assert result is None
    else:
        assert result == ReleaseTag(expected[0], Version(expected[1]))


def test_latest_release_tag_without_name_in_format() -> None:
    result = latest_release_tag("v{version}", "acme", ["v1.0", "v1.10", "v1.9", "acme-v3.0"])
    assert result == ReleaseTag("v1.10", Version("1.10"))


# ------------------------------------------------------------------- conventional commits


def _commit(
    type: str,
    scope: str | None = None,
    breaking: bool = False,
    subject: str = "subject",
    body: str = "",
    footers: tuple[tuple[str, str], ...] = (),
) -> ConventionalCommit:
    return ConventionalCommit(type, scope, breaking, subject, body, footers)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("feat: subject", _commit("feat")),
        ("fix(parser): subject", _commit("fix", "parser")),
        ("feat(api)!: subject", _commit("feat", "api", breaking=True)),
        ("refactor!: subject", _commit("refactor", breaking=True)),
        ("FEAT(API): subject", _commit("feat", "API")),
        ("Fix: subject", _commit("fix")),
        ("feat( api ): subject", _commit("feat", "api")),
        ("feat(a,b): subject", _commit("feat", "a,b")),
        ("feat:   subject  ", _commit("feat")),
        ("\n\n  feat: subject\n", _commit("feat")),
        ("feat: subject\r\n\r\nbody\r\n", _commit("feat", body="body")),
        ("fix: subject\n\nfirst\n\nsecond line", _commit("fix", body="first\n\nsecond line")),
        (
            "feat: subject\n\nbody\n\nBREAKING CHANGE: the old API is gone",
            _commit(
                "feat",
                breaking=True,
                body="body",
                footers=(("BREAKING CHANGE", "the old API is gone"),),
            ),
        ),
        (
            "fix: subject\n\nBREAKING-CHANGE: config key renamed\nRefs #123",
            _commit(
                "fix",
                breaking=True,
                footers=(("BREAKING-CHANGE", "config key renamed"), ("Refs", "123")),
            ),
        ),
        (
            "chore: subject\n\nBREAKING CHANGE: spans\n  two lines\nReviewed-by: Z",
            _commit(
                "chore",
                breaking=True,
                footers=(("BREAKING CHANGE", "spans\n  two lines"), ("Reviewed-by", "Z")),
            ),
        ),
        # Said in the body rather than the footer block: still breaking.
        (
            "feat: subject\n\nBREAKING CHANGE: old flag removed\n\nSigned-off-by: A <a@b.c>",
            _commit(
                "feat",
                breaking=True,
                body="BREAKING CHANGE: old flag removed",
                footers=(("Signed-off-by", "A <a@b.c>"),),
            ),
        ),
        # Only the uppercase token is breaking (the spec's one case-sensitive word).
        (
            "feat: subject\n\nbreaking change: not really",
            _commit("feat", body="breaking change: not really"),
        ),
        ("feat: subject\n\nSee http://example.com", _commit("feat", body="See http://example.com")),
        ("feat: subject\n\nhttp://example.com", _commit("feat", body="http://example.com")),
        (
            'Revert "feat(api): add the thing"\n\nThis reverts commit 0123abc.',
            _commit(
                "revert", subject="feat(api): add the thing", body="This reverts commit 0123abc."
            ),
        ),
        ("revert: feat: add the thing", _commit("revert", subject="feat: add the thing")),
    ],
)
def test_parse_conventional_commit(message: str, expected: ConventionalCommit) -> None:
    assert parse_conventional_commit(message) == expected


@pytest.mark.parametrize(
    "message",
    [
        "",
        "fixed the bug",
        "feat:no space",
        "feat: ",
        "feat():  empty scope",
        "feat(a(b)): nested scope",
        "feat (api): space before scope",
        "fixup! feat: subject",
        "squash! fix: subject",
        "WIP",
        "Merge branch 'feature/x' into main",
        "Merge pull request #12 from acme/feat-x\n\nfeat: add x",
        "Merge remote-tracking branch 'origin/main'",
        "Merged in feat/x (pull request #7)",
        "Merge branch 'feat: x'",
        '"feat: quoted"',
        "1feat: starts with a digit",
    ],
)
def test_parse_conventional_commit_refuses(message: str) -> None:
    assert parse_conventional_commit(message) is None


@pytest.mark.parametrize(
    ("messages", "current", "expected"),
    [
        ([], None, None),
        (["chore: bump deps", "docs: typo", "ci: cache", "test: more"], None, None),
        (["refactor: x", "style: x", "build: x", "wip: x"], None, None),
        (["fix: x"], None, "patch"),
        (["perf: x"], None, "patch"),
        (['Revert "feat: x"'], None, "patch"),
        (["fix: x", "feat(api): y", "chore: z"], None, "minor"),
        (["feat: y", "fix!: x"], "1.4.0", "major"),
        (["chore: x\n\nBREAKING CHANGE: dropped py3.9"], "1.4.0", "major"),
        (["docs!: rewrite"], "2.0", "major"),
        (["Merge branch 'x'", "fixed stuff", "fixup! feat: x"], None, None),
        (["Merge branch 'x'", "fix: y"], None, "patch"),
        # Below 1.0 a breaking change is a minor by default.
        (["feat!: x"], "0.4.2", "minor"),
        (["feat!: x", "fix: y"], "0.4.2", "minor"),
        (["fix: y"], "0.4.2", "patch"),
        (["feat!: x"], "1!0.4.2", "minor"),
        (["feat!: x"], "0.4.2rc1", "minor"),
        (["feat!: x"], "1.0.0rc1", "major"),
    ],
)
def test_bump_for_commits(
    messages: list[str], current: str | None, expected: ReleasePart | None
) -> None:
    assert bump_for_commits(iter(messages), current) == expected


@pytest.mark.parametrize(("choice", "expected"), [("major", "major"), ("patch", "patch")])
def test_bump_for_commits_major_zero_breaking(choice: ReleasePart, expected: str) -> None:
    assert bump_for_commits(["feat!: x"], "0.3", major_zero_breaking=choice) == expected
    # The choice is about 0.x only.
    assert bump_for_commits(["feat!: x"], "1.3", major_zero_breaking=choice) == "major"


def test_bump_for_commits_refuses_bad_choices() -> None:
    with pytest.raises(UsageError, match="major_zero_breaking must be one of major, minor, patch"):
        bump_for_commits(["feat!: x"], "0.3", major_zero_breaking="dev")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="not a valid PEP 440 version"):
        bump_for_commits(["feat!: x"], "zero")


@pytest.mark.parametrize(
    ("current", "messages", "expected"),
    [
        ("1.2.3", ["fix: x"], "1.2.4"),
        ("1.2.3", ["feat: x", "fix: y"], "1.3.0"),
        ("1.2.3", ["feat!: x"], "2.0.0"),
        ("0.2.3", ["feat!: x"], "0.3.0"),
        ("0.2.3", ["feat: x"], "0.3.0"),
        ("1.3.0rc1", ["feat: x"], "1.3.0rc2"),
        ("1!1.2", ["fix: x"], "1!1.2.1"),
        ("1.2.3", ["docs: x", "chore: y"], None),
        ("1.2.3", [], None),
    ],
)
def test_next_version_conventional(current: str, messages: list[str], expected: str | None) -> None:
    result = next_version_conventional(current, messages)
    assert (str(result) if result is not None else None) == expected


def test_next_version_conventional_refuses_local_versions() -> None:
    with pytest.raises(UsageError, match="local version label"):
        next_version_conventional("1.0+x", ["fix: x"])


# --------------------------------------------------------------------------- requirements


@pytest.mark.parametrize(
    ("requirement", "version", "expected"),
    [
        ("acme>=1.2,<2", "1.5", True),
        ("acme>=1.2,<2", "2.0", False),
        ("acme>=1.2,<2", "1.1", False),
        ("acme>=1.2,<2", "1.5rc1", True),  # a pre-release asked for explicitly
        ("acme>=1.2,<2", "2.0rc1", False),  # `<2` excludes 2's own pre-releases
        ("acme>=1.2,<2", "1.2.dev1", False),
        ("acme~=1.2", "1.9.post1", True),
        ("acme==1.2.*", "1.2.7", True),
        ("acme==1.2.3", "1.2.3", True),
        ("acme", "9.0rc1", True),
        ("acme @ https://example.invalid/acme-1.0.tar.gz", "2.0", True),
        ('acme>=1; python_version < "3"', "1.0", True),  # markers are not about versions
    ],
)
def test_satisfies(requirement: str, version: str, expected: bool) -> None:
    assert satisfies(Requirement(requirement), version) is expected
    assert satisfies(requirement, Version(version)) is expected


@pytest.mark.parametrize(
    ("requirement", "version", "expected"),
    [
        ("acme-core>=1.2,<2", "2.0.0", "acme-core>=1.2,<3"),
        ("acme-core>=1.2,<2", "2.0.0rc1", "acme-core>=1.2,<3"),
        ("acme-core>=1.2,<2", "4.1", "acme-core>=1.2,<5"),
        ("acme-core>=1.2,<=1.9", "1.9.1", "acme-core>=1.2,<2"),
        ("acme-core<2", "2.0", "acme-core<3"),
        ("acme-core~=1.2", "2.0", "acme-core>=1.2,<3"),
        ("acme-core~=1.2.3", "1.3.0", "acme-core>=1.2.3,<2"),
        ("acme-core~=1.2,>=1.2", "2.0", "acme-core>=1.2,<3"),
        ("acme-core==1.2.*", "1.3.0", "acme-core>=1.2,<2"),
        ("acme-core==1.2.3", "1.2.4", "acme-core==1.2.4"),
        ("acme-core==1.2.3", "1.2.2", "acme-core==1.2.2"),  # a pin follows the release
        ("acme-core===1.2.3", "1.2.4", "acme-core===1.2.4"),
        ("acme-core>=1.0,!=1.5.0,<2", "2.1", "acme-core>=1.0,!=1.5.0,<3"),
        # Below 1.0 the next boundary is the next minor.
        ("acme-core>=0.3,<0.4", "0.4.0", "acme-core>=0.3,<0.5"),
        ("acme-core~=0.3.1", "0.4.2", "acme-core>=0.3.1,<0.5"),
        ("acme-core~=0.3", "1.0.0", "acme-core>=0.3,<2"),
        ("acme-core<0.1", "0", "acme-core<0.1"),  # satisfied: unchanged
        ("acme-core>=1!1.0,<1!2", "1!2.0", "acme-core>=1!1.0,<1!3"),
        # Extras and markers stay.
        (
            'acme-core[aws,kafka]>=1.2,<2; python_version >= "3.10"',
            "2.0.0",
            'acme-core[aws,kafka]>=1.2,<3; python_version >= "3.10"',
        ),
        (
            "Acme_Core[s3]~=1.2 ; sys_platform == 'linux'",
            "2.0",
            'Acme_Core[s3]>=1.2,<3; sys_platform == "linux"',
        ),
    ],
)
def test_widen_requirement(requirement: str, version: str, expected: str) -> None:
    original = Requirement(requirement)
    widened = widen_requirement(original, version)
    assert widened == Requirement(expected)
    assert format_requirement(widened) == expected
    assert satisfies(widened, version)
    assert str(original) == str(Requirement(requirement))  # the input is not modified


@pytest.mark.parametrize(
    ("requirement", "version"),
    [
        ("acme>=1.2,<2", "2.0"),
        ("acme~=1.2", "2.0"),
        ("acme~=1.2.3", "1.3"),
        ("acme==1.2.*", "1.3.0"),
        ("acme>=0.3,<0.4", "0.4.0"),
        ("acme<=1.9", "1.9.1"),
    ],
)
def test_widen_requirement_never_narrows(requirement: str, version: str) -> None:
    original = Requirement(requirement)
    widened = widen_requirement(original, version)
    samples = ["0.3", "0.3.5", "0.9", "1.0", "1.2", "1.2.3", "1.2.9", "1.5", "1.9", "1.9.1", "2.0"]
    for sample in samples:
        if satisfies(original, sample):
            assert satisfies(widened, sample), sample


@pytest.mark.parametrize(
    "requirement",
    ["acme>=1.2,<2", 'acme[x]~=1.2; os_name == "nt"', "acme", "acme @ https://e.invalid/a.whl"],
)
def test_widen_requirement_returns_the_same_object_when_satisfied(requirement: str) -> None:
    original = Requirement(requirement)
    assert widen_requirement(original, "1.5") is original


@pytest.mark.parametrize(
    ("requirement", "version", "clause"),
    [
        ("acme>=2.0", "1.5", ">=2.0"),
        ("acme>2.0,<3", "2.0", ">2.0"),
        ("acme~=1.2", "1.1", "~=1.2"),
        ("acme==1.2.*", "1.1.9", "==1.2.*"),
        ("acme!=1.5.0", "1.5.0", "!=1.5.0"),
        ("acme!=1.5.*,<2", "1.5.1", "!=1.5.*"),
    ],
)
def test_widen_requirement_never_lowers_a_floor_or_drops_an_exclusion(
    requirement: str, version: str, clause: str
) -> None:
    with pytest.raises(UsageError, match=f"excluded by '{clause}'.*edit it by hand"):
        widen_requirement(Requirement(requirement), version)


def test_widen_requirement_refuses_local_and_invalid_versions() -> None:
    with pytest.raises(UsageError, match="local version label"):
        widen_requirement(Requirement("acme<2"), "2.0+local")
    with pytest.raises(UsageError, match="not a valid PEP 440 version"):
        widen_requirement(Requirement("acme<2"), "two")


def test_satisfies_refuses_invalid_requirements() -> None:
    with pytest.raises(UsageError, match="is not a valid requirement; write it as in pyproject"):
        satisfies("acme>=>1", "1.0")


@pytest.mark.parametrize(
    ("requirement", "text"),
    [
        ("acme<3,>=1.2", "acme>=1.2,<3"),
        ("acme<=3,!=2.1,>1", "acme>1,!=2.1,<=3"),
        ("acme==1.*,~=1.2", "acme~=1.2,==1.*"),
        ("acme[b,a]", "acme[a,b]"),
        (
            "acme @ https://e.invalid/a.whl ; python_version > '3'",
            'acme @ https://e.invalid/a.whl ; python_version > "3"',
        ),
    ],
)
def test_format_requirement(requirement: str, text: str) -> None:
    formatted = format_requirement(Requirement(requirement))
    assert formatted == text
    # Whatever the order, the text means the same requirement.
    assert Requirement(formatted) == Requirement(requirement)
