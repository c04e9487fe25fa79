"""A tiny loopback HTTP(S) server for provider fakes: threads, bound to loopback, stopped by the test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fakes.tls import test_ca


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler], *, tls: bool = False, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `handler` on a free port of `host`; yields the base URL (https with the test authority's cert)."""
    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    if tls:
        server.socket = test_ca().server_context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
