"""The soak's results: requests and their latencies per page, the syncs, the data check; Markdown and JSON."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import percentile
from soak.datacheck import DataCheck
from soak.syncing import FinalPass, SyncFigures
from soak.visitors import Sample

PAGES = ("sign-in form", "sign-in", "week", "week (htmx)", "event detail", "connections")
ERRORS_SHOWN = 20


@dataclass
class PageFigures:
    page: str
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass
class SoakReport:
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    machine: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # the whole run, set-up and checks included
    load_seconds: float = 0.0  # from the first user's start to the last user's stop
    requests: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)  # the first kinds, with how often each came
    expected: dict[str, int] = field(default_factory=dict)  # right outcomes worth counting (a 404, a resent GET)
    pages: list[PageFigures] = field(default_factory=list)
    overall: PageFigures | None = None
    calendars: int = 0
    initial_events: int = 0
    initial_sync: dict[str, float] = field(default_factory=dict)
    mutations: dict[str, int] = field(default_factory=dict)
    fan_out: dict[str, int] = field(default_factory=dict)
    syncs: SyncFigures = field(default_factory=SyncFigures)
    quiet_seconds: float = 0.0
    final_sync: FinalPass | None = None
    data_check: DataCheck = field(default_factory=DataCheck)
    problems: list[str] = field(default_factory=list)  # the harness's own troubles, tracebacks in the logs

    @property
    def sync_failures(self) -> int:
        during = sum(count for outcome, count in self.syncs.outcomes.items() if outcome != "ok")
        return during + (self.final_sync.failed if self.final_sync else 0)

    @property
    def failures(self) -> list[str]:
        """Why the soak failed; empty when it passed."""
        reasons = []
        if self.errors:
            reasons.append(f"{self.errors} request errors")
        if self.sync_failures:
            reasons.append(f"{self.sync_failures} failed syncs")
        if not self.data_check.passed:
            reasons.append(
                f"data check: {self.data_check.calendars - self.data_check.equal} of "
                f"{self.data_check.calendars} calendars differ from the provider"
            )
        return reasons + self.problems

    def add_samples(self, samples: Sequence[Sample]) -> None:
        self.requests = sum(1 for sample in samples if sample.page != "visitor")
        failed = [sample for sample in samples if sample.error]
        self.errors = len(failed)
        self.error_kinds = dict(Counter(sample.error for sample in failed).most_common(ERRORS_SHOWN))
        self.expected = dict(Counter(sample.note for sample in samples if sample.note and not sample.error))
        pages = [page for page in PAGES if any(sample.page == page for sample in samples)]
        self.pages = [page_figures(page, [s for s in samples if s.page == page]) for page in pages]
        self.overall = page_figures("all pages", [s for s in samples if s.page in PAGES])


def page_figures(page: str, samples: Sequence[Sample]) -> PageFigures:
    """Latencies of the answered requests; a request that got no answer counts as an error only."""
    answered = [sample.seconds for sample in samples if sample.status is not None]

    def ms(fraction: float) -> float | None:
        return percentile(answered, fraction) * 1000 if answered else None

    return PageFigures(
        page,
        len(samples),
        sum(1 for sample in samples if sample.error),
        ms(0.5),
        ms(0.95),
        ms(0.99),
        max(answered) * 1000 if answered else None,
    )


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def markdown(report: SoakReport) -> str:
    config, machine, check = report.config, report.machine, report.data_check
    verdict = "**pass**" if not report.failures else "**FAIL**: " + "; ".join(report.failures)
    lines = [
        "# calsync soak",
        "",
        f"Run {report.started_at}, {report.seconds:.0f} s in all. Machine: {machine.get('cpus')} CPUs "
        f"({machine.get('cpu_model')}), {machine.get('ram')} RAM, PostgreSQL {machine.get('postgresql')}, "
        f"Python {machine.get('python')}, database `{machine.get('database')}`.",
        "",
        f"{config['users']} signed-in users for {config['seconds']:g} s (started over {config['ramp']:g} s, "
        f"a pause of 0-{2 * config['think']:g} s between requests), each with {config['calendars']} Google "
        f"calendars of {config['events']} events at the start ({report.initial_events:,} events in "
        f"{report.calendars} calendars). gunicorn: {config['web_workers']} workers x 4 threads; Celery: "
        f"{config['sync_workers']} workers (concurrency 1); a calendar falls due {config['sync_interval']:g} s "
        "after its last sync, the fan-out runs every second. Latencies are measured at the client, body included.",
        "",
        f"Result: {verdict}",
        "",
        "## Requests",
        "",
        f"{report.requests:,} requests in {report.load_seconds:.0f} s "
        f"({report.requests / report.load_seconds if report.load_seconds else 0:.1f}/s), {report.errors} errors.",
        "",
        "| Page | Requests | Errors | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [*report.pages, *([report.overall] if report.overall else [])]
    for row in rows:
        name = f"**{row.page}**" if row.page == "all pages" else row.page
        lines.append(
            f"| {name} | {row.requests:,} | {row.errors} | {_ms(row.p50_ms)} | {_ms(row.p95_ms)} "
            f"| {_ms(row.p99_ms)} | {_ms(row.max_ms)} |"
        )
    if report.expected:
        lines += ["", "Expected, not errors:", ""] + [f"- {count} x {kind}" for kind, count in report.expected.items()]
    if report.error_kinds:
        lines += ["", "Errors (the commonest kinds):", ""]
        lines += [f"- {count} x {kind}" for kind, count in report.error_kinds.items()]
    syncs = report.syncs
    initial = report.initial_sync
    lines += [
        "",
        "## Syncs",
        "",
        f"- First (full) sync of every calendar, before the users: {initial.get('seconds', 0):.1f} s, "
        f"{initial.get('runs', 0):.0f} runs, {initial.get('failed', 0):.0f} failed.",
        "- Changes made at the fake during the run: "
        + (", ".join(f"{kind} {count}" for kind, count in sorted(report.mutations.items())) or "none")
        + f" (it stopped {config['seconds'] - config['mutate_until']:g} s before the end).",
        f"- Syncs during the run: {syncs.runs:,} runs ("
        + ", ".join(f"{outcome} {count:,}" for outcome, count in sorted(syncs.outcomes.items()))
        + f"), {syncs.full_listings} full listings; events created {syncs.events_created:,}, updated "
        f"{syncs.events_updated:,}, deleted {syncs.events_deleted:,}, skipped {syncs.skipped_items:,}. "
        f"Fan-out: {report.fan_out.get('rounds', 0)} rounds queued {report.fan_out.get('queued', 0):,} syncs.",
    ]
    if report.final_sync:
        final = report.final_sync
        lines.append(
            f"- After the users stopped: {report.quiet_seconds:.1f} s until no sync was queued or running, then a "
            f"final sync of every calendar: {final.runs} runs, {final.failed} failed, {final.seconds:.1f} s."
        )
    if syncs.failures:
        lines += ["", "Failed syncs (the first few):", ""] + [f"- {failure}" for failure in syncs.failures]
    lines += [
        "",
        "## Data check",
        "",
        f"{check.equal} of {check.calendars} calendars in the database equal the provider "
        f"({check.events:,} events at the provider compared by id, title, status and etag): "
        + ("**pass**." if check.passed else "**FAIL**."),
    ]
    for difference in check.differences[:10]:
        lines += [
            "",
            f"- connection {difference.connection_id} (`{difference.calendar_id}`): {difference.counts}",
            *(f"  - missing from the database: `{key}`" for key in difference.missing),
            *(f"  - in the database only: `{key}`" for key in difference.extra),
            *(f"  - different: `{text}`" for text in difference.changed),
        ]
    if report.problems:
        lines += ["", "## Problems", ""] + [f"- {problem}" for problem in report.problems]
    return "\n".join(lines) + "\n"


def as_json(report: SoakReport) -> dict[str, Any]:
    body = asdict(report)
    body["passed"] = not report.failures
    body["failures"] = report.failures
    body["sync_failures"] = report.sync_failures
    body["data_check"]["passed"] = report.data_check.passed
    return body


def write(report: SoakReport, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    md, js = folder / "results.md", folder / "results.json"
    md.write_text(markdown(report))
    js.write_text(json.dumps(as_json(report), indent=2) + "\n")
    return md, js
