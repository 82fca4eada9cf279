from __future__ import annotations

import json
from datetime import datetime, timezone

from pubkit.server.layout import FileRecord
from pubkit.server.simple import (
    build_project_page,
    render_project_html,
    render_project_json,
)

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def record(filename: str, version: str, **changes: object) -> FileRecord:
    values: dict[str, object] = {
        "project": "demo",
        "display_name": "Demo",
        "version": version,
        "filename": filename,
        "packagetype": "bdist_wheel" if filename.endswith(".whl") else "sdist",
        "size": 123,
        "sha256": "a" * 64,
        "md5": "b" * 32,
        "blake2_256": "c" * 64,
        "requires_python": None,
        "metadata_sha256": "d" * 64,
        "upload_time": WHEN,
        "uploader": "alice",
    }
    values.update(changes)
    return FileRecord(**values)  # type: ignore[arg-type]


def test_versions_are_sorted_and_deduplicated() -> None:
    records = [
        record("demo-1.10-py3-none-any.whl", "1.10"),
        record("demo-1.9.tar.gz", "1.9"),
        record("demo-1.9-py3-none-any.whl", "1.9"),
        record("demo-1.0.0.tar.gz", "1.0.0"),
        record("demo-1.0-py3-none-any.whl", "1.0"),
    ]
    page = build_project_page("demo", records, 7)
    assert page.versions == ("1.0", "1.9", "1.10")
    assert [link.filename for link in page.files][-1] == "demo-1.10-py3-none-any.whl"


def test_html_escapes_requires_python_and_marks_yank() -> None:
    records = [
        record("demo-1.0-py3-none-any.whl", "1.0", requires_python=">=3.8,<4", yanked=True,
               yanked_reason='bad "quote" <b>'),
        record("demo-1.0.tar.gz", "1.0"),
    ]
    html = render_project_html(build_project_page("demo", records, 3)).decode()
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in html
    assert 'data-yanked="bad &quot;quote&quot; &lt;b&gt;"' in html
    assert f'href="../../files/demo/demo-1.0-py3-none-any.whl#sha256={"a" * 64}"' in html
    assert f'data-core-metadata="sha256={"d" * 64}"' in html
    # An sdist's metadata may be dynamic, so it is never advertised.
    sdist_line = next(line for line in html.splitlines() if "demo-1.0.tar.gz" in line)
    assert "core-metadata" not in sdist_line
    assert '<meta name="pypi:repository-version" content="1.1">' in html
    assert "<!--SERIAL 3-->" in html


def test_json_has_pep_691_700_714_fields() -> None:
    records = [record("demo-1.0-py3-none-any.whl", "1.0", yanked=True, yanked_reason=None)]
    document = json.loads(render_project_json(build_project_page("demo", records, 9)))
    assert document["meta"] == {"api-version": "1.1", "_last-serial": 9}
    assert document["name"] == "demo"
    assert document["versions"] == ["1.0"]
    (entry,) = document["files"]
    assert entry["hashes"] == {"sha256": "a" * 64}
    assert entry["size"] == 123
    assert entry["upload-time"] == "2026-01-02T03:04:05.000000Z"
    assert entry["yanked"] is True
    assert entry["core-metadata"] == {"sha256": "d" * 64}
    assert entry["dist-info-metadata"] == {"sha256": "d" * 64}
    assert entry["requires-python"] is None


def test_sidecar_round_trip() -> None:
    original = record("demo-1.0-py3-none-any.whl", "1.0", yanked=True, yanked_reason="x")
    assert FileRecord.from_sidecar(original.to_sidecar()) == original
