"""The bench's results: figures with their targets, the machine they were measured on, Markdown and JSON."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import connection

ITEMS = {
    1: "Seed queries",
    2: "Week view page",
    3: "Sync ingest",
    4: "Incremental sync cycle",
    5: "Full sync memory",
    6: "Storage",
    7: "Hostile recurring series",
}


@dataclass(frozen=True)
class Target:
    """The issue's goal for a figure: `op` is "<=" (at most) or ">=" (at least)."""

    op: str
    value: float

    def met_by(self, value: float) -> bool:
        return value <= self.value if self.op == "<=" else value >= self.value

    def shortfall(self, value: float) -> str:
        """How far a missed figure is from the target, as a factor ("2.3x over", "40% short")."""
        if self.op == "<=":
            return f"{value / self.value:.1f}x the target" if self.value else "over"
        return f"{(1 - value / self.value) * 100:.0f}% short" if self.value else "short"


@dataclass
class Figure:
    item: int
    name: str
    value: float | None  # None: not measured (see note)
    unit: str  # "ms", "events/s", "s", "MB", "bytes", "x", "count"
    target: Target | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "skipped"
        if self.target is None:
            return ""
        return "pass" if self.target.met_by(self.value) else "miss"


@dataclass
class Report:
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    machine: dict[str, str] = field(default_factory=dict)
    data_set: dict[str, Any] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def skip(self, item: int, reason: str) -> None:
        self.add(Figure(item, ITEMS[item], None, "", note=reason))

    def item(self, item: int) -> list[Figure]:
        return [figure for figure in self.figures if figure.item == item]


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile (0.5, 0.95) of `samples`, linearly interpolated (numpy's default method)."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_figures(
    report: Report, item: int, name: str, seconds: Sequence[float], *, p95_target: float | None = None, note: str = ""
) -> None:
    """p50 and p95 of a list of durations (seconds) as two figures in ms; the target applies to p95."""
    report.add(Figure(item, f"{name} p50", percentile(seconds, 0.5) * 1000, "ms"))
    target = Target("<=", p95_target) if p95_target is not None else None
    report.add(Figure(item, f"{name} p95", percentile(seconds, 0.95) * 1000, "ms", target, note))


def machine_details() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = str(cursor.fetchone()[0])
    return {
        "cpus": str(os.cpu_count() or 0),
        "cpu_model": _cpu_model(),
        "ram": _ram(),
        "postgresql": postgres,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "database": str(connection.settings_dict["NAME"]),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 100 else f"{value:,.0f} ms"
    if unit in ("events/s", "bytes", "count"):
        return f"{value:,.0f}" + ("" if unit == "count" else f" {unit}")
    if unit == "x":
        return f"{value:.1f}x"
    if unit == "s":
        return f"{value:.1f} s" if value >= 10 else f"{value:.2f} s"
    if unit == "MB":
        return f"{value:,.0f} MB"
    return f"{value:g} {unit}"


def _target_text(figure: Figure) -> str:
    if figure.target is None:
        return ""
    sign = "≤" if figure.target.op == "<=" else "≥"
    return f"{sign} {format_value(figure.target.value, figure.unit)}"


def _result_text(figure: Figure) -> str:
    verdict = figure.verdict
    if verdict == "miss" and figure.target is not None and figure.value is not None:
        return f"**miss** ({figure.target.shortfall(figure.value)})"
    return verdict


def markdown(report: Report) -> str:
    machine = report.machine
    lines = [
        "# calsync bench",
        "",
        f"Run {report.started_at}, {report.seconds:.0f} s. "
        f"Machine: {machine.get('cpus')} CPUs ({machine.get('cpu_model')}), {machine.get('ram')} RAM, "
        f"PostgreSQL {machine.get('postgresql')}, Python {machine.get('python')}, "
        f"database `{machine.get('database')}`.",
        "",
        "Data set: " + (", ".join(f"{key} {value:,}" for key, value in report.data_set.items()) or "none") + ".",
        "Sizes: " + ", ".join(f"{key}={value:,}" for key, value in report.sizes.items()) + ".",
        "Targets are the issue's (at 10,000 users on a 2-core machine); a smaller data set flatters items 1, 2 and 6.",
        "",
        "| # | Measurement | Figure | Target | Result | Notes |",
        "|---|---|---|---|---|---|",
    ]
    for figure in sorted(report.figures, key=lambda figure: figure.item):
        note = figure.note.replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {figure.item} | {figure.name} | {format_value(figure.value, figure.unit)} | {_target_text(figure)} "
            f"| {_result_text(figure)} | {note} |"
        )
    return "\n".join(lines) + "\n"


def as_json(report: Report) -> dict[str, Any]:
    body = asdict(report)
    for figure, data in zip(report.figures, body["figures"], strict=True):
        data["verdict"] = figure.verdict
        data["title"] = ITEMS[figure.item]
    return body


def write(report: Report, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    md, js = folder / "results.md", folder / "results.json"
    md.write_text(markdown(report))
    js.write_text(json.dumps(as_json(report), indent=2) + "\n")
    return md, js


def progress(text: str) -> None:
    """A line on stderr while the bench runs (the report is the result)."""
    print(text, file=sys.stderr, flush=True)
