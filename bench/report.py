"""The results table: one row per metric, one column per server, targets marked PASS/FAIL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

SERVERS = ("pubkit", "pypiserver", "devpi", "nginx")
COLUMNS = ("pubkit", "pypiserver", "devpi", "nginx(static)")


@dataclass
class Row:
    metric: str
    unit: str
    values: dict[str, float | None] = field(default_factory=dict)
    target: str = ""
    status: str = ""  # PASS, FAIL, "" (no target) or "n/a" (could not be measured)

    def value(self, server: str) -> float | None:
        return self.values.get(server)

    def ratio(self, other: str) -> float | None:
        mine, theirs = self.value("pubkit"), self.value(other)
        if mine is None or theirs is None or theirs == 0:
            return None
        return mine / theirs

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["pubkit/devpi"] = self.ratio("devpi")
        data["pubkit/pypiserver"] = self.ratio("pypiserver")
        return data


def judge(
    row: Row,
    target: str,
    check: Callable[[dict[str, float]], bool],
    needs: tuple[str, ...] = ("pubkit",),
    extra: dict[str, float | None] | None = None,
) -> None:
    """Set the row's target text and PASS/FAIL; "n/a" when a needed value is missing.

    ``check`` gets the row's values plus ``extra`` (reference numbers that are not columns).
    """
    row.target = target
    values = {**row.values, **(extra or {})}
    if any(values.get(name) is None for name in needs):
        row.status = "n/a"
        return
    known = {k: v for k, v in values.items() if v is not None}
    row.status = "PASS" if check(known) else "FAIL"


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "req/s" or (unit == "uploads/s" and value >= 100):
        return f"{value:,.0f}"
    if unit in ("ms", "s", "uploads/s"):
        return f"{value:.2f}"
    if unit == "MiB":
        return f"{value:.1f}"
    return f"{value:.3g}"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def markdown(rows: list[Row], notes: list[str]) -> str:
    header = ["metric", *COLUMNS, "pubkit/devpi", "pubkit/pypiserver", "target", "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [f"{row.metric} ({row.unit})"]
        cells += [_fmt(row.value(s), row.unit) for s in SERVERS]
        cells += [_ratio(row.ratio("devpi")), _ratio(row.ratio("pypiserver"))]
        cells += [row.target, row.status]
        lines.append("| " + " | ".join(cells) + " |")
    if notes:
        lines += ["", "Notes:", *(f"- {note}" for note in notes)]
    return "\n".join(lines)
