"""The week view's layout: which day and lane every occurrence takes, computed here so templates only draw.

Days run from local midnight to local midnight in the viewer's zone, so a DST week has a 23- or 25-hour
day. Timed events are placed by wall-clock minutes (a 09:00 meeting sits on the 09:00 line on either side
of a DST change). All-day events and timed ones of a day or longer go to the all-day row as bars over the
days they touch; shorter timed events are cut at midnight into one block per day they touch. Blocks that
overlap share their day's width side by side, so none hides another.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from events.selectors import Occurrence

DAYS = 7
MINUTES_PER_DAY = 24 * 60
# Shorter events are drawn this tall, so their title stays readable; overlap is judged on what is drawn.
MIN_BLOCK_MINUTES = 20
# Timed events at least this long read better as bars over their days than as towers in the grid.
ALL_DAY_ROW_FROM = timedelta(hours=24)


def week_start_for(day: date, first_weekday: int) -> date:
    """The first day (Monday = 0 ... Sunday = 6) of the week that holds `day`."""
    return day - timedelta(days=(day.weekday() - first_weekday) % DAYS)


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The instant `day` begins in `zone` (fold=0: the first midnight, should a zone repeat it)."""
    return datetime.combine(day, time(), tzinfo=zone)


@dataclass(frozen=True)
class Bar:
    """An all-day-row bar: days `first`..`first + span - 1` of the week (0-based), on row `lane`."""

    occurrence: Occurrence
    first: int
    span: int
    lane: int
    continues_before: bool
    continues_after: bool


@dataclass(frozen=True)
class Block:
    """A timed event's piece on one day: minutes from that day's midnight (wall clock), and its column of
    `columns` side by side."""

    occurrence: Occurrence
    top: int
    bottom: int
    column: int
    columns: int
    continues_before: bool
    continues_after: bool


@dataclass
class Day:
    date: date
    is_today: bool
    blocks: list[Block] = field(default_factory=list)


@dataclass
class WeekLayout:
    start: date
    days: list[Day]
    lanes: list[list[Bar]]
    now_day: int | None  # the column of today, if it is in this week
    now_minute: int | None

    @property
    def end(self) -> date:
        """The day after the week (exclusive)."""
        return self.start + timedelta(days=DAYS)


def week_layout(occurrences: Iterable[Occurrence], *, start: date, zone: tzinfo, moment: datetime) -> WeekLayout:
    """Lay out occurrences (in `zone`) over the seven days from `start`; `moment` is now, for today's line."""
    today = moment.astimezone(zone).date()
    days = [
        Day(date=start + timedelta(days=index), is_today=start + timedelta(days=index) == today)
        for index in range(DAYS)
    ]
    # Compared in UTC: aware datetimes sharing a zone compare and subtract on the wall clock, which is wrong
    # in the hour a DST change repeats.
    bounds = [local_midnight(start + timedelta(days=index), zone).astimezone(UTC) for index in range(DAYS + 1)]
    bars: list[tuple[Occurrence, int, int]] = []
    pieces: list[list[_Piece]] = [[] for _ in range(DAYS)]
    for occurrence in occurrences:
        if occurrence.all_day or _utc(occurrence.end) - _utc(occurrence.start) >= ALL_DAY_ROW_FROM:
            span = _days_touched(occurrence, start)
            if span is not None:
                bars.append((occurrence, *span))
        else:
            for index in range(DAYS):
                piece = _piece(occurrence, bounds[index], bounds[index + 1], zone)
                if piece is not None:
                    pieces[index].append(piece)
    for day, day_pieces in zip(days, pieces, strict=True):
        day.blocks = _side_by_side(day_pieces)
    now_day = next((index for index, day in enumerate(days) if day.is_today), None)
    now_local = moment.astimezone(zone)
    return WeekLayout(
        start=start,
        days=days,
        lanes=_lanes(bars),
        now_day=now_day,
        now_minute=now_local.hour * 60 + now_local.minute if now_day is not None else None,
    )


def _days_touched(occurrence: Occurrence, week_start: date) -> tuple[int, int] | None:
    """The week's days (first, last index) an all-day-row occurrence touches, or None if none."""
    first_date = occurrence.start.date()
    if occurrence.all_day:
        last_date = occurrence.end.date() - timedelta(days=1) if occurrence.end > occurrence.start else first_date
    else:
        last_date = (occurrence.end - timedelta(microseconds=1)).date()  # ending at midnight: not that day
    first = (first_date - week_start).days
    last = (max(last_date, first_date) - week_start).days
    if last < 0 or first >= DAYS:
        return None
    return first, last


@dataclass(frozen=True)
class _Piece:
    occurrence: Occurrence
    top: int
    bottom: int
    continues_before: bool
    continues_after: bool

    @property
    def drawn_bottom(self) -> int:
        return min(MINUTES_PER_DAY, max(self.bottom, self.top + MIN_BLOCK_MINUTES))


def _piece(occurrence: Occurrence, day_start: datetime, day_end: datetime, zone: tzinfo) -> _Piece | None:
    start, end = _utc(occurrence.start), _utc(occurrence.end)
    if start == end:
        if not day_start <= start < day_end:
            return None
    elif not (start < day_end and end > day_start):
        return None
    before, after = start < day_start, end > day_end
    top = 0 if before else _wall_minutes(start, zone)
    bottom = MINUTES_PER_DAY if end >= day_end else _wall_minutes(end, zone)
    if bottom < top:  # a DST change inside the event can run the wall clock backwards
        bottom = top
    return _Piece(occurrence, min(top, MINUTES_PER_DAY - MIN_BLOCK_MINUTES), bottom, before, after)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _wall_minutes(moment: datetime, zone: tzinfo) -> int:
    local = moment.astimezone(zone)
    return local.hour * 60 + local.minute


def _side_by_side(pieces: Sequence[_Piece]) -> list[Block]:
    """Columns for one day: pieces that overlap (transitively) form a group sharing the width; each takes
    the leftmost column free at its start."""
    ordered = sorted(pieces, key=lambda piece: (piece.top, -piece.drawn_bottom, piece.occurrence.event.pk))
    blocks: list[Block] = []
    group: list[tuple[_Piece, int]] = []
    column_ends: list[int] = []
    group_end = -1

    def close_group() -> None:
        for piece, column in group:
            blocks.append(
                Block(
                    occurrence=piece.occurrence,
                    top=piece.top,
                    bottom=piece.drawn_bottom,
                    column=column,
                    columns=len(column_ends),
                    continues_before=piece.continues_before,
                    continues_after=piece.continues_after,
                )
            )

    for piece in ordered:
        if group and piece.top >= group_end:
            close_group()
            group, column_ends, group_end = [], [], -1
        column = next((index for index, end in enumerate(column_ends) if end <= piece.top), None)
        if column is None:
            column = len(column_ends)
            column_ends.append(piece.drawn_bottom)
        else:
            column_ends[column] = piece.drawn_bottom
        group.append((piece, column))
        group_end = max(group_end, piece.drawn_bottom)
    if group:
        close_group()
    return blocks


def _lanes(bars: list[tuple[Occurrence, int, int]]) -> list[list[Bar]]:
    """Rows of the all-day area: each bar on the first row where the days it covers are free."""
    lanes: list[list[Bar]] = []
    lane_ends: list[int] = []  # the last day index taken on each lane
    ordered = sorted(bars, key=lambda bar: (max(bar[1], 0), -(bar[2] - bar[1]), bar[0].start, bar[0].event.pk))
    for occurrence, first, last in ordered:
        shown_first, shown_last = max(first, 0), min(last, DAYS - 1)
        lane = next((index for index, end in enumerate(lane_ends) if end < shown_first), None)
        if lane is None:
            lane = len(lanes)
            lanes.append([])
            lane_ends.append(-1)
        lane_ends[lane] = shown_last
        lanes[lane].append(
            Bar(
                occurrence=occurrence,
                first=shown_first,
                span=shown_last - shown_first + 1,
                lane=lane,
                continues_before=first < 0,
                continues_after=last > DAYS - 1,
            )
        )
    return lanes
