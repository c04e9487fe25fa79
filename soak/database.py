"""`python -m soak.database`: create the soak's database (DATABASE_URL) if it does not exist yet.

The soak writes and deletes people of its own, so it runs only on a database whose name says "soak".
"""

from __future__ import annotations

import os
import sys

import dj_database_url

from bench.database import ensure_database

if __name__ == "__main__":
    if ensure_database(os.environ["DATABASE_URL"], marker="soak"):
        print("soak.database: created", dj_database_url.parse(os.environ["DATABASE_URL"])["NAME"], file=sys.stderr)
