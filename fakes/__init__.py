"""Loopback stand-ins for the outside world: the Google and Microsoft fakes, the CalDAV proxy and the Radicale
server, the test TLS authority, and helpers that start the project's processes.

Test code outside tests/: the tests, the bench and the soak import it; application code never does.
"""
