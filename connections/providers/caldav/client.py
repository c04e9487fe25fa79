"""The caldav library on a guarded requests session, and the one place its failures become `ProviderError`s.

The server URL is the person's input, so every request goes through `netguard.guarded_session()`: HTTPS
only, and never to a loopback, private, link-local or metadata address (redirects included).

Reading (`reading`) and writing (`writing`) send their requests through `Requests.send`, which maps network
and address failures and hands back the raw response for the status codes each side reads its own way; the
calendar listing and the sign-in check, which go through caldav's own calls, map theirs with
`listing_errors` and `verification_errors`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote, unquote, urlsplit

import caldav
import requests
from caldav.lib import error as caldav_error
from lxml import etree

from connections.providers.base import AuthorizationFailed, AuthRevoked, Credentials, ProviderError
from connections.providers.http import network_failure, timeout_seconds
from connections.providers.netguard import UnresolvableHost, UnsafeURL, ca_bundle, guarded_session, url_check

ICLOUD_HOST_SUFFIX = "icloud.com"
CREDENTIALS_REFUSED = "the CalDAV server refused the stored password"
# Failures of a request that the same request would meet again: a refused certificate, a redirect loop.
PERMANENT_REQUEST_ERRORS = (
    requests.exceptions.SSLError,
    requests.exceptions.TooManyRedirects,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
)
# Path characters left unescaped in a canonical href (RFC 3986 pchar and "/").
HREF_SAFE = "/!$&'()*+,;=:@-._~"


def new_client(url: str, username: str, password: str) -> caldav.DAVClient:
    """A caldav client for a checked URL, on the guarded session."""
    # caldav passes `verify` with every request, which overrides the session's: give it the same bundle.
    # caldav annotates the timeout as int, but hands it to requests, which takes fractions of a second too.
    timeout = cast(int, timeout_seconds())
    client = caldav.DAVClient(
        url=url, username=username, password=password, timeout=timeout, ssl_verify_cert=ca_bundle()
    )
    client.session = guarded_session()
    return client


@contextlib.contextmanager
def connect(credentials: Credentials) -> Iterator[caldav.DAVClient]:
    """A caldav client for the stored credentials, on the guarded session."""
    try:
        url = url_check(credentials.server_url)
    except UnsafeURL as exc:
        raise _address_error(exc) from None
    with new_client(url, credentials.username, credentials.password or "") as client:
        # Basic credentials on the first request spare the 401 round trip caldav otherwise makes on every
        # sync, so an unchanged calendar costs one request. A Digest-only server still works: caldav
        # answers its 401 by switching to the scheme the server names.
        client.auth = requests.auth.HTTPBasicAuth(credentials.username, credentials.password or "")
        yield client


def resource_id(href: str) -> str:
    """The provider id of a resource: its path, with percent-escapes in one canonical form.

    Servers may escape the same path differently in different responses ("@" or "%40"); ids must not
    depend on that. Escaped slashes and percent signs stay escaped, as they are not path structure.
    """
    path = urlsplit(href).path if "://" in href else href
    parts = re.split(r"(%2[Ff]|%25)", path)
    return "".join(
        part.upper() if index % 2 else quote(unquote(part), safe=HREF_SAFE) for index, part in enumerate(parts)
    )


def is_icloud(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == ICLOUD_HOST_SUFFIX or host.endswith("." + ICLOUD_HOST_SUFFIX)


def wrong_password_message(url: str) -> str:
    if is_icloud(url):
        return (
            "Apple refused the Apple ID or password. iCloud only accepts an app-specific password here: "
            "create one at appleid.apple.com under Sign-In and Security, then paste it in."
        )
    return "The server refused the user name or password."


# -- requests ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One request as the caldav client left it."""

    # The raw response, kept by a session hook (None when none came).
    response: requests.Response | None
    # The parsed XML answer; None when there is none.
    tree: Any = None
    # caldav raised AuthorizationError, which it does for 401 and 403 alike: the response tells them apart.
    refused: bool = False
    # The answer was labelled XML but is not (an error page, say): its status says what happened.
    unreadable_xml: bool = False


class Requests:
    """Requests through one caldav client (authentication, the guarded session), with a count of them."""

    def __init__(self, client: caldav.DAVClient) -> None:
        self.client = client
        self.count = 0
        self.last_response: requests.Response | None = None
        client.session.hooks["response"].append(self._record)

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.count += 1
        self.last_response = response

    def take_count(self) -> int:
        """Requests sent since the last call."""
        count, self.count = self.count, 0
        return count

    def send(self, url: str, method: str, body: bytes | str, headers: Mapping[str, str], *, what: str) -> Exchange:
        """One request (not retried: the caller decides). A failure that brought no answer is a ProviderError:
        permanent when the same request would meet it again."""
        self.last_response = None
        try:
            tree = self.client.request(url, method, body, dict(headers)).tree  # type: ignore[arg-type]
        except caldav_error.AuthorizationError:
            return Exchange(self.last_response, refused=True)
        except etree.XMLSyntaxError:
            return Exchange(self.last_response, unreadable_xml=True)
        except UnsafeURL as exc:
            raise _address_error(exc) from None
        except PERMANENT_REQUEST_ERRORS as exc:  # trying again cannot help
            raise ProviderError(f"{what}: {network_failure(exc)}", permanent=True) from None
        except requests.RequestException as exc:  # timeouts, resets, refused connections
            raise ProviderError(f"{what}: {network_failure(exc)}") from None
        return Exchange(self.last_response, tree)


# -- caldav's own calls ---------------------------------------------------------------------------------


@contextlib.contextmanager
def listing_errors(what: str) -> Iterator[None]:
    """Failures of caldav's principal lookup and PROPFIND (the calendar listing) as ProviderErrors."""
    try:
        yield
    except caldav_error.AuthorizationError:
        raise AuthRevoked(CREDENTIALS_REFUSED) from None
    except UnsafeURL as exc:
        raise _address_error(exc) from None
    except (caldav_error.DAVError, etree.XMLSyntaxError, NotImplementedError, ValueError, TypeError) as exc:
        raise ProviderError(f"{what}: {type(exc).__name__}", permanent=True) from None
    except requests.RequestException as exc:
        raise ProviderError(f"{what}: {network_failure(exc)}") from None


@contextlib.contextmanager
def verification_errors(url: str) -> Iterator[None]:
    """Failures of the first contact with a server, as AuthorizationFailed in words a person can act on."""
    try:
        yield
    except caldav_error.AuthorizationError:
        raise AuthorizationFailed(wrong_password_message(url)) from None
    except NotImplementedError:  # caldav's answer to Negotiate/NTLM-only servers
        raise AuthorizationFailed("That server asks for a sign-in method calsync does not support.") from None
    except UnsafeURL:
        raise  # a redirect to a refused address says so, rather than "not a CalDAV server" (a ValueError)
    except (caldav_error.DAVError, etree.XMLSyntaxError, ValueError, TypeError, KeyError):
        raise AuthorizationFailed(
            "That address answered, but not as a CalDAV server. Check the server address."
        ) from None
    except requests.RequestException as exc:
        raise AuthorizationFailed(f"We could not reach {urlsplit(url).hostname}: {network_failure(exc)}.") from None


def _address_error(exc: UnsafeURL) -> ProviderError:
    """A server address refused by the network guard: permanent, unless its name may resolve later."""
    return ProviderError(str(exc), permanent=not isinstance(exc, UnresolvableHost))
