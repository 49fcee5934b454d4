"""Header checks of both adapters (private): request headers to environ keys, response checks.

Request side (`WsgiToAsgi`, on the event loop): [`add_request_headers`][] maps the ASGI
request headers onto environ keys under one of three `header_map` modes and the duplicate
limit, raising [`BadRequest`][] when the request must be answered 400 without calling the
application.

Response side: [`status_code`][] and [`encode_response_headers`][] check what a WSGI
application passes to `start_response` (on the `WsgiToAsgi` worker thread), and
[`check_start_message`][] checks an ASGI `http.response.start` message (on the `AsgiToWsgi`
loop thread). A header name that is not an RFC 9110 token, a name or value containing CR, LF or
NUL, or a status line that is not `NNN reason` is refused with an error that names the header
but never repeats its value (it may hold a cookie or a token, and it ends up in logs).

The good cases are kept cheap: environ keys and accepted header names and status lines are
cached in small bounded tables, so a typical response costs a set lookup and one regex search
per header.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Dict, List, Literal, Tuple

from asgi_sync.typing import HTTPResponseBodyEvent, HTTPResponseStartEvent
from asgi_wsgi._types import Environ

__all__ = (
    "HEADER_MAPS",
    "BadRequest",
    "HeaderMap",
    "add_request_headers",
    "check_header_map",
    "check_start_message",
    "encode_response_headers",
    "status_code",
)

logger = logging.getLogger("asgi_wsgi")

HeaderMap = Literal["drop", "refuse", "dangerous"]
"""What `WsgiToAsgi` does with a request header whose name contains `_` (gunicorn's names)."""

HEADER_MAPS: tuple[HeaderMap, ...] = ("drop", "refuse", "dangerous")

# Bounded caches: the names come from clients (request) or applications (response), so an
# attacker sending random names must not grow them without limit; past the bound, the slow path
# still gives the right answer.
_CACHE_SIZE = 512
_ENVIRON_KEYS: Dict[bytes, str] = {}
_GOOD_NAMES: set[bytes] = set()
_GOOD_STATUS: Dict[str, int] = {}

# RFC 9110 section 5.6.2: token = 1*tchar.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
# RFC 9110 section 5.5: a field value containing CR, LF or NUL is invalid and dangerous.
_FORBIDDEN_IN_VALUE = re.compile(rb"[\r\n\x00]").search
# RFC 9112 section 4: status-code SP reason-phrase, reason = *( HTAB / SP / VCHAR / obs-text ).
_STATUS_LINE = re.compile(r"[1-9][0-9]{2} [\t\x20-\x7e\x80-\xff]*").fullmatch

_CHARACTER_NAMES = {"\r": "a carriage return (CR)", "\n": "a line feed (LF)", "\x00": "NUL"}


class BadRequest(ValueError):
    """The request is answered 400 without calling the application.

    Attributes:
        body: The response body that tells the client what was wrong.
    """

    def __init__(self, message: str, body: bytes) -> None:
        super().__init__(message)
        self.body = body

    def messages(self) -> tuple[HTTPResponseStartEvent, HTTPResponseBodyEvent]:
        """Return the `http.response.start` and `http.response.body` messages to send."""
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": 400,
            "headers": [(b"content-type", b"text/plain")],
        }
        return start, {"type": "http.response.body", "body": self.body}


def check_header_map(header_map: object) -> HeaderMap:
    """Return `header_map` when it is one of [`HEADER_MAPS`][], else raise `ValueError`."""
    if isinstance(header_map, str):
        for mode in HEADER_MAPS:
            if header_map == mode:
                return mode
    message = (
        f"header_map must be 'drop' (the default), 'refuse' or 'dangerous', not {header_map!r}"
    )
    raise ValueError(message)


def _environ_key(name: bytes) -> str:
    key = _ENVIRON_KEYS.get(name)
    if key is not None:
        return key
    text = bytes(name).decode("latin-1")
    lowered = text.lower()
    if lowered == "content-type":
        key = "CONTENT_TYPE"
    elif lowered == "content-length":
        key = "CONTENT_LENGTH"
    else:
        key = "HTTP_" + text.upper().replace("-", "_")
    if len(_ENVIRON_KEYS) < _CACHE_SIZE:
        _ENVIRON_KEYS[bytes(name)] = key
    return key


def add_request_headers(
    environ: Environ,
    headers: Iterable[Tuple[bytes, bytes]],
    header_map: HeaderMap,
    duplicate_header_limit: int | None,
) -> None:
    """Put the ASGI request `headers` into `environ` (PEP 3333 keys), on the calling thread.

    Only `content-type` and `content-length` become `CONTENT_TYPE` and `CONTENT_LENGTH`; every
    other name becomes `HTTP_` plus the name upper-cased with `-` turned into `_`. Repeated
    names are joined in arrival order with `,` (`Cookie` with `; `).

    Args:
        environ: The environ being built; header keys are added to it.
        headers: The scope's `headers`: `(name, value)` byte-string pairs.
        header_map: What to do with a name containing `_`, which would otherwise share an
            environ key with the dashed name a proxy sets: `"drop"` leaves it out (one debug
            log line per request names what was dropped), `"refuse"` raises
            [`BadRequest`][], `"dangerous"` maps it like any other name (asgiref's behaviour:
            `X_Forwarded_For` is merged into `HTTP_X_FORWARDED_FOR`).
        duplicate_header_limit: Most values one environ key may collect; more raises
            [`BadRequest`][]. `None` or `0` turns the check off.

    Raises:
        BadRequest: The request must be answered 400 and the application not called.
    """
    found: Dict[str, List[str]] = {}
    dropped: list[bytes] | None = None
    check_names = header_map != "dangerous"
    for raw_name, raw_value in headers:
        if check_names and b"_" in raw_name:
            if header_map == "refuse":
                message = (
                    f"header name {bytes(raw_name)!r:.100} contains '_' and header_map='refuse'"
                )
                raise BadRequest(message, b"Bad Request: Header name contains an underscore")
            if dropped is None:
                dropped = []
            dropped.append(bytes(raw_name))
            continue
        key = _ENVIRON_KEYS.get(raw_name) or _environ_key(raw_name)  # no call when cached
        value = bytes(raw_value).decode("latin-1")
        values = found.get(key)
        if values is None:
            found[key] = [value]
        else:
            values.append(value)
    if dropped is not None:
        logger.debug(
            "Dropped request headers whose names contain '_' (header_map='drop'; "
            "'dangerous' keeps them): %s",
            ", ".join(repr(name)[:100] for name in dropped),
        )
    for key, values in found.items():
        if len(values) == 1:
            environ[key] = values[0]
            continue
        if duplicate_header_limit and len(values) > duplicate_header_limit:
            message = (
                f"header {key!r} is repeated {len(values)} times, more than "
                f"duplicate_header_limit={duplicate_header_limit}; raise the limit or pass None"
            )
            raise BadRequest(message, b"Bad Request: Too many duplicate headers")
        environ[key] = ("; " if key == "HTTP_COOKIE" else ",").join(values)


# --- response side -------------------------------------------------------------------


def _describe(name: object) -> str:
    """Name a header for an error message: its repr, shortened (never the value)."""
    if isinstance(name, (bytes, bytearray, memoryview)):
        return repr(bytes(name).decode("latin-1"))[:80]
    return repr(name)[:80]


def _check_name(name: bytes) -> None:
    if _TOKEN(name) is None:
        if not name:
            message = "a response header has an empty name"
        else:
            message = (
                f"response header name {_describe(name)} is not an RFC 9110 token: use only "
                "letters, digits and !#$%&'*+-.^_`|~ (no spaces, separators or control "
                "characters)"
            )
        raise ValueError(message)
    if len(_GOOD_NAMES) < _CACHE_SIZE:
        _GOOD_NAMES.add(bytes(name))


def _check_value(name: bytes, value: bytes) -> None:
    match = _FORBIDDEN_IN_VALUE(value)
    if match is not None:
        character = _CHARACTER_NAMES[match.group().decode("latin-1")]
        message = (
            f"the value of response header {_describe(name)} contains {character}, which "
            "HTTP forbids in field values (it could inject headers); remove it or encode it"
        )
        raise ValueError(message)


def status_code(status_line: object) -> int:
    """Return the code of a WSGI status line such as `"200 OK"` (any thread).

    Raises:
        TypeError: `status_line` is not a `str`.
        ValueError: It is not three digits, a space and a reason of printable characters.
    """
    code = _GOOD_STATUS.get(status_line) if type(status_line) is str else None
    if code is not None:
        return code
    if not isinstance(status_line, str):
        message = f"status must be a str such as '200 OK', not {status_line!r:.80}"
        raise TypeError(message)
    if _STATUS_LINE(status_line) is None:
        message = (
            "status must be a 3-digit code, a space and a reason phrase of printable "
            f"characters, such as '200 OK', not {status_line!r:.80}"
        )
        raise ValueError(message)
    code = int(status_line[:3])
    if len(_GOOD_STATUS) < _CACHE_SIZE:
        _GOOD_STATUS[status_line] = code
    return code


def encode_response_headers(response_headers: object) -> list[tuple[bytes, bytes]]:
    """Check a WSGI application's response headers and return them as ASGI byte pairs.

    Names are lower-cased. Runs on the thread that called `start_response`.

    Raises:
        TypeError: `response_headers` is not a list of `(str, str)` pairs.
        ValueError: A name is not a token, a name or value holds CR, LF or NUL, or a value is
            not encodable as latin-1.
    """
    # One pass that encodes and checks; a suspect header only sets a flag, so the slow checks
    # (and their errors, which must not be mistaken for encoding errors) run after the loop.
    encoded: list[tuple[bytes, bytes]] = []
    append = encoded.append
    suspect = False
    try:
        for name, value in response_headers:  # type: ignore[attr-defined]
            key = name.lower().encode("latin-1")
            data = value.encode("latin-1")
            append((key, data))
            if key not in _GOOD_NAMES or _FORBIDDEN_IN_VALUE(data) is not None:
                suspect = True
    except (AttributeError, TypeError, ValueError):
        raise _explain_wsgi_headers(response_headers) from None
    if suspect:
        for key, data in encoded:
            if key not in _GOOD_NAMES:
                _check_name(key)
            if _FORBIDDEN_IN_VALUE(data) is not None:
                _check_value(key, data)
    return encoded


def _explain_wsgi_headers(response_headers: object) -> Exception:
    """Build the error for headers the fast path could not encode (names, never values)."""
    if not isinstance(response_headers, (list, tuple)):
        text = (
            "response headers must be a list of (name, value) str tuples, "
            f"not {type(response_headers).__name__}"
        )
        return TypeError(text)
    for index, item in enumerate(response_headers):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            text = (
                f"response header {index} must be a (name, value) tuple of str, "
                f"not {type(item).__name__}"
                + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
            )
            return TypeError(text)
        name, value = item
        if not isinstance(name, str):
            text = f"response header {index} has a {type(name).__name__} name; names must be str"
            return TypeError(text)
        try:
            name.encode("latin-1")
        except UnicodeEncodeError:
            text = (
                f"response header name {name!r:.80} is not encodable as latin-1; header "
                "names must be ASCII tokens"
            )
            return ValueError(text)
        if not isinstance(value, str):
            text = (
                f"response header {name!r:.80} has a {type(value).__name__} value; "
                "header values must be str"
            )
            return TypeError(text)
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            text = (
                f"the value of response header {name!r:.80} is not encodable as latin-1; "
                "encode other text first (for example as RFC 8187 or percent-encoding)"
            )
            return ValueError(text)
    return TypeError("response headers must be a list of (name, value) str tuples")


def check_start_message(message: Mapping[str, Any]) -> None:
    """Check an ASGI `http.response.start` message before it is passed on (any thread).

    Raises:
        TypeError: The status is not an integer, or a header is not a pair of byte strings.
        ValueError: The status is outside 100-999, a name is not a token, or a name or value
            holds CR, LF or NUL.
    """
    status: Any = message.get("status")
    if type(status) is not int:
        try:
            status = int(status)
        except (TypeError, ValueError):
            text = f"http.response.start needs an int 'status' such as 200, not {status!r:.80}"
            raise TypeError(text) from None
    if not 100 <= status <= 999:
        text = f"http.response.start 'status' must be a 3-digit code, not {status!r}"
        raise ValueError(text)
    for index, item in enumerate(message.get("headers", ())):
        try:
            name, value = item
        except (TypeError, ValueError):
            text = f"header {index} of http.response.start must be a (name, value) pair"
            raise TypeError(text) from None
        if type(name) is not bytes or type(value) is not bytes:
            if not isinstance(name, (bytes, bytearray)):
                text = (
                    f"header {index} of http.response.start has a {type(name).__name__} "
                    "name; ASGI header names are byte strings"
                )
                raise TypeError(text)
            if not isinstance(value, (bytes, bytearray)):
                text = (
                    f"response header {_describe(name)} has a {type(value).__name__} value; "
                    "ASGI header values are byte strings"
                )
                raise TypeError(text)
            name = bytes(name)
        if name not in _GOOD_NAMES:
            _check_name(name)
        if _FORBIDDEN_IN_VALUE(value) is not None:
            _check_value(name, value)
