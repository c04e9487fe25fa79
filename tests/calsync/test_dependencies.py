"""Guards on the dependency tree that a version bump could silently break."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import urllib3


def test_urllib3_is_the_real_urllib3_not_a_fork_that_replaces_it():
    # caldav 2.x pulls niquests, whose urllib3-future installs itself as the `urllib3` package for the
    # whole environment (requests, google-auth and msal would all run on it). Pin caldav below 2.
    installed = {dist.metadata["Name"].lower() for dist in metadata.distributions()}
    assert "urllib3-future" not in installed
    assert "niquests" not in installed
    module_file = Path(urllib3.__file__).resolve()
    owning = [
        dist.metadata["Name"]
        for dist in metadata.distributions()
        if any(Path(str(dist.locate_file(f))).resolve() == module_file for f in dist.files or [])
    ]
    assert owning == ["urllib3"]


def test_caldav_talks_through_requests():
    import caldav.davclient
    import requests

    client = caldav.davclient.DAVClient(url="https://caldav.invalid/")
    assert isinstance(client.session, requests.Session)
