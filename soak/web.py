"""calsync served by gunicorn as production serves it (DEBUG off, hashed static files), on loopback only."""

from __future__ import annotations

import subprocess  # nosec B404  # runs our own manage.py, below
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fakes.processes import BIN, ROOT, answers, free_port, process, wait_until


def web_env(env: dict[str, str], *, port: int, workers: int, static_root: Path) -> dict[str, str]:
    return {
        **env,
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "STATIC_ROOT": str(static_root),
        # Plain HTTP on loopback stands in for the TLS proxy in front of production: cookies marked
        # Secure would never be sent back over it (the README's "trial on plain HTTP" settings).
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        # One trusted proxy, as deployed: each virtual user's X-Forwarded-For is its own address, so the
        # per-IP sign-in limit counts people rather than the one loopback address they all share.
        "TRUSTED_PROXY_COUNT": "1",
    }


@contextmanager
def gunicorn(env: dict[str, str], *, workers: int, static_root: Path, logs: Path) -> Iterator[str]:
    """Collect static files, serve calsync on a free loopback port; yields the base URL."""
    port = free_port()
    served = web_env(env, port=port, workers=workers, static_root=static_root)
    # The manifest storage (DEBUG off) needs collectstatic first, or every page with a stylesheet is a 500.
    subprocess.run(  # nosec B603  # our own manage.py, with this interpreter
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=served,
        check=True,
        timeout=300,
    )
    base = f"http://127.0.0.1:{port}"
    # The bind on the command line wins over gunicorn.conf.py's 0.0.0.0.
    args = [str(BIN / "gunicorn"), "calsync.wsgi", "--bind", f"127.0.0.1:{port}"]
    with process(args, served, logs / "gunicorn.log"):
        wait_until(lambda: answers(f"{base}/healthz"), 60, "gunicorn to answer")
        yield base
