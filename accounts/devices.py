"""What the Devices page shows about a session: the browser and system behind a user agent."""

from __future__ import annotations

import functools

from ua_parser import parse


@functools.lru_cache(maxsize=1024)
def describe_user_agent(user_agent: str) -> str:
    """'Firefox 140 on Windows', 'Safari on iOS', or 'Unknown device' (cached: the same few agents repeat)."""
    if not user_agent:
        return "Unknown device"
    result = parse(user_agent).with_defaults()
    browser = result.user_agent.family
    if result.user_agent.major and browser != "Other":
        browser = f"{browser} {result.user_agent.major}"
    system = result.os.family
    if browser == "Other" and system == "Other":
        return "Unknown device"
    if system == "Other":
        return browser
    if browser == "Other":
        return f"Unknown browser on {system}"
    return f"{browser} on {system}"
