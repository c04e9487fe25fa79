"""The demo's CalDAV server: Radicale on loopback over TLS, with one user whose password is public.

calsync only talks to CalDAV servers over HTTPS, so the demo makes its own certificate authority
(trustme) and a bundle of the usual public authorities plus that one, which `make run` hands the app
as REQUESTS_CA_BUNDLE. `prepare` writes the files once into the demo folder; `serve` runs Radicale.

    python -m demo.caldav_server prepare|serve [--folder var/demo] [--port 5232]
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105  # nosec B105  # loopback only and public: it protects nothing
DEFAULT_FOLDER = Path(os.environ.get("CALSYNC_VAR_DIR", "var")) / "demo"
DEFAULT_PORT = 5232


@dataclass(frozen=True)
class DemoServerFiles:
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_bundle(self) -> Path:
        """The public authorities and the demo's: what the app trusts during `make run`."""
        return self.folder / "ca-bundle.pem"

    @property
    def config(self) -> Path:
        return self.folder / "radicale.conf"


def prepare(folder: Path = DEFAULT_FOLDER, port: int = DEFAULT_PORT) -> DemoServerFiles:
    """Write the authority, the server certificate, the bundle, the user file and Radicale's config."""
    files = DemoServerFiles(folder.resolve(), port)
    files.folder.mkdir(parents=True, exist_ok=True)
    if not (files.folder / "server.key").exists():
        _write_certificates(files.folder)
    _write_bundle(files)
    (files.folder / "users").write_text(f"{DEMO_USERNAME}:{DEMO_PASSWORD}\n")
    files.config.write_text(_config(files))
    return files


def serve(files: DemoServerFiles) -> None:
    """Become Radicale (exec), so signals from honcho reach it directly."""
    os.execv(sys.executable, [sys.executable, "-m", "radicale", "--config", str(files.config)])  # noqa: S606  # nosec B606


def _write_certificates(folder: Path) -> None:
    import trustme  # a dev dependency, like the demo itself

    authority = trustme.CA(organization_name="calsync local demo")
    server = authority.issue_cert("127.0.0.1", "localhost", "::1")
    authority.cert_pem.write_to_path(str(folder / "ca.pem"))
    with open(folder / "server.pem", "wb") as chain:
        for blob in server.cert_chain_pems:
            chain.write(blob.bytes())
    server.private_key_pem.write_to_path(str(folder / "server.key"))
    (folder / "server.key").chmod(0o600)


def _write_bundle(files: DemoServerFiles) -> None:
    import certifi

    public = Path(certifi.where()).read_text()
    files.ca_bundle.write_text(public.rstrip("\n") + "\n" + files.ca.read_text())


def _config(files: DemoServerFiles) -> str:
    folder = files.folder
    return f"""\
# Written by `python -m demo.caldav_server prepare`; rewritten on every `make run`.
[server]
hosts = 127.0.0.1:{files.port}
ssl = True
certificate = {folder / "server.pem"}
key = {folder / "server.key"}

[auth]
type = htpasswd
htpasswd_filename = {folder / "users"}
htpasswd_encryption = plain
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = {folder / "collections"}

[web]
type = internal

[logging]
level = warning
mask_passwords = True
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The calsync demo's local CalDAV server (Radicale over TLS).")
    parser.add_argument("action", choices=["prepare", "serve"])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_CALDAV_PORT", DEFAULT_PORT)))
    options = parser.parse_args(argv)
    files = prepare(options.folder, options.port)
    if options.action == "serve":
        serve(files)
    else:
        print(f"demo CalDAV server files in {files.folder}; it will serve {files.url}")


if __name__ == "__main__":
    main()
