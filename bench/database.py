"""`python -m bench.database`: create the bench's database (DATABASE_URL) if it does not exist yet.

The bench refuses any database whose name does not say "bench", so the developer's is never touched.
"""

from __future__ import annotations

import os
import sys

import dj_database_url
import psycopg
from psycopg import sql


def ensure_database(url: str, *, marker: str = "bench") -> bool:
    """Create the database `url` names unless it exists; True when it was created.

    `marker` is the word the name must hold: "bench" here, "soak" for `make soak` (soak.database).
    """
    details = dj_database_url.parse(url)
    name = str(details["NAME"])
    if marker not in name:
        raise SystemExit(f"{marker}.database: {name!r} is not a {marker} database (its name must say {marker!r})")
    maintenance = psycopg.connect(
        dbname="postgres",
        host=str(details.get("HOST") or "127.0.0.1"),
        port=int(details.get("PORT") or 5432),
        user=str(details.get("USER") or ""),
        password=str(details.get("PASSWORD") or ""),
        autocommit=True,
    )
    with maintenance:
        if maintenance.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        maintenance.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


if __name__ == "__main__":
    if ensure_database(os.environ["DATABASE_URL"]):
        print("bench.database: created", dj_database_url.parse(os.environ["DATABASE_URL"])["NAME"], file=sys.stderr)
