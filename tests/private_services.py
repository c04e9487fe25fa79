"""Private PostgreSQL and Redis servers that a test may stop and restart: their own data folders, free
loopback ports, and torn down with the test. The machine's shared servers (5432, 6379) are never touched."""

from __future__ import annotations

import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

from fakes.processes import free_port, wait_until

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
POSTGRES_USER = "postgres"  # the server refuses to run as root, so it runs as the packaged OS user


@dataclass
class PrivatePostgres:
    folder: Path  # owned by the postgres OS user: data, socket and log live here
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def url(self, database: str) -> str:
        return f"postgres://{POSTGRES_USER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=5)

    def pg_ctl(self, *args: str) -> None:
        self.run_as_postgres(str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), *args)

    def start(self) -> None:
        self.pg_ctl("-w", "start")

    def restart(self) -> None:
        # Fast: ends every session (as a restart by an operator or a package upgrade does) and checkpoints.
        self.pg_ctl("-w", "-m", "fast", "restart")

    def stop(self) -> None:
        self.pg_ctl("-w", "-m", "immediate", "stop")

    def run_as_postgres(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", POSTGRES_USER, "--", *args],
            cwd=self.folder,  # the postgres user cannot read the project folder
            check=True,
            capture_output=True,
            timeout=60,
        )


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL 15 cluster of its own on a free loopback port, trust authentication, no Unix socket
    shared with the machine's cluster."""
    folder = Path(tempfile.mkdtemp(prefix="calsync-pg-"))
    owner = pwd.getpwnam(POSTGRES_USER)
    shutil.chown(folder, owner.pw_uid, owner.pw_gid)
    server = PrivatePostgres(folder, free_port())
    try:
        server.run_as_postgres(
            str(POSTGRES_BIN / "initdb"), "-D", str(server.data), "-U", POSTGRES_USER, "-A", "trust",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        settings = {
            "port": str(server.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{folder}'",
            # A throw-away cluster: the restarts under test stop the server, never the machine, so the
            # operating system keeps whatever was written without fsync.
            "fsync": "off",
        }
        with (server.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        server.start()
        yield server
    finally:
        with suppress(subprocess.CalledProcessError, FileNotFoundError, subprocess.TimeoutExpired):
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class PrivateRedis:
    folder: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with (self.folder / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [*args, "--dir", str(self.folder)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until(self.answers, 10, f"redis-server on port {self.port}")

    def stop(self) -> None:
        """Stop it as a restart does (nothing is saved: what it held in memory is gone)."""
        if self.proc is None:
            return
        with suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of its own on a free loopback port, without persistence."""
    server = PrivateRedis(Path(tempfile.mkdtemp(prefix="calsync-redis-")), free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)
