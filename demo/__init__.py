"""The local demo that `make run` starts: a Radicale CalDAV server on loopback and a demo account synced
from it through the real CalDAV sync. Development only: it needs the dev dependencies (radicale, trustme).
"""
