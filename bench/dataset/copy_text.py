"""Values in PostgreSQL's COPY text format (tab-separated, backslash escapes, \\N for NULL)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def text(value: str | None) -> str:
    if value is None:
        return NULL
    return value.translate(_ESCAPES)


def instant(value: datetime | None) -> str:
    """An aware datetime (UTC in this data set) as timestamptz text."""
    if value is None:
        return NULL
    return value.isoformat(sep=" ")


def boolean(value: bool) -> str:
    return "t" if value else "f"


def number(value: int | None) -> str:
    return NULL if value is None else str(value)


def jsonb(value: Any) -> str:
    return text(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def line(values: list[str]) -> str:
    return "\t".join(values) + "\n"
