"""Static types for ASGI: every scope and event of the ASGI spec, and the application shapes.

Keys the ASGI specification lets a server or application leave out are `NotRequired`, so a
minimal message such as `{"type": "http.request"}` type-checks as `HTTPRequestEvent`. These
are `TypedDict`s and protocols only: nothing here runs on any thread or loop.

This is the one set of ASGI types of the asgi-* packages: asgi-wsgi's adapters and
asgi-stateless-server use it, and `asgiref.typing` is this very module (it keeps every name
asgiref 3.13's `asgiref.typing` has).
"""

import sys
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    Literal,
    Optional,
    Protocol,
    Tuple,
    Type,
    Union,
)

if sys.version_info >= (3, 11):
    from typing import NotRequired, TypedDict
else:
    from typing_extensions import NotRequired, TypedDict

__all__ = (
    "ASGIVersions",
    "HTTPScope",
    "WebSocketScope",
    "LifespanScope",
    "WWWScope",
    "Scope",
    "HTTPRequestEvent",
    "HTTPResponseDebugEvent",
    "HTTPResponseStartEvent",
    "HTTPResponseBodyEvent",
    "HTTPResponseTrailersEvent",
    "HTTPResponsePathsendEvent",
    "HTTPServerPushEvent",
    "HTTPDisconnectEvent",
    "WebSocketConnectEvent",
    "WebSocketAcceptEvent",
    "WebSocketReceiveEvent",
    "WebSocketSendEvent",
    "WebSocketResponseStartEvent",
    "WebSocketResponseBodyEvent",
    "WebSocketDisconnectEvent",
    "WebSocketCloseEvent",
    "LifespanStartupEvent",
    "LifespanShutdownEvent",
    "LifespanStartupCompleteEvent",
    "LifespanStartupFailedEvent",
    "LifespanShutdownCompleteEvent",
    "LifespanShutdownFailedEvent",
    "ASGIReceiveEvent",
    "ASGISendEvent",
    "ASGIReceiveCallable",
    "ASGISendCallable",
    "ASGI2Protocol",
    "ASGI2Application",
    "ASGI3Application",
    "ASGIApplication",
)

_Headers = Iterable[Tuple[bytes, bytes]]


class ASGIVersions(TypedDict):
    """The `scope["asgi"]` mapping: the ASGI version and, optionally, the spec version."""

    version: Union[Literal["2.0"], Literal["3.0"]]
    spec_version: NotRequired[str]


# --- scopes ------------------------------------------------------------------------------


class HTTPScope(TypedDict):
    """The connection scope of one HTTP request."""

    type: Literal["http"]
    asgi: ASGIVersions
    http_version: str
    method: str
    scheme: NotRequired[str]
    path: str
    raw_path: NotRequired[Optional[bytes]]
    query_string: NotRequired[bytes]
    root_path: NotRequired[str]
    headers: _Headers
    client: NotRequired[Optional[Tuple[str, int]]]
    server: NotRequired[Optional[Tuple[str, Optional[int]]]]
    state: NotRequired[Dict[str, Any]]
    extensions: NotRequired[Optional[Dict[str, Dict[object, object]]]]


class WebSocketScope(TypedDict):
    """The connection scope of one WebSocket."""

    type: Literal["websocket"]
    asgi: ASGIVersions
    http_version: NotRequired[str]
    scheme: NotRequired[str]
    path: str
    raw_path: NotRequired[Optional[bytes]]
    query_string: NotRequired[bytes]
    root_path: NotRequired[str]
    headers: _Headers
    client: NotRequired[Optional[Tuple[str, int]]]
    server: NotRequired[Optional[Tuple[str, Optional[int]]]]
    subprotocols: NotRequired[Iterable[str]]
    state: NotRequired[Dict[str, Any]]
    extensions: NotRequired[Optional[Dict[str, Dict[object, object]]]]


class LifespanScope(TypedDict):
    """The scope of the lifespan protocol (startup and shutdown)."""

    type: Literal["lifespan"]
    asgi: ASGIVersions
    state: NotRequired[Dict[str, Any]]


WWWScope = Union[HTTPScope, WebSocketScope]
Scope = Union[HTTPScope, WebSocketScope, LifespanScope]

# --- HTTP events -------------------------------------------------------------------------


class HTTPRequestEvent(TypedDict):
    """`http.request`: a chunk of the request body (server to application)."""

    type: Literal["http.request"]
    body: NotRequired[bytes]
    more_body: NotRequired[bool]


class HTTPResponseDebugEvent(TypedDict):
    """`http.response.debug`: extra information for test clients (application to server)."""

    type: Literal["http.response.debug"]
    info: Dict[str, object]


class HTTPResponseStartEvent(TypedDict):
    """`http.response.start`: the status and headers of the response."""

    type: Literal["http.response.start"]
    status: int
    headers: NotRequired[_Headers]
    trailers: NotRequired[bool]


class HTTPResponseBodyEvent(TypedDict):
    """`http.response.body`: a chunk of the response body."""

    type: Literal["http.response.body"]
    body: NotRequired[bytes]
    more_body: NotRequired[bool]


class HTTPResponseTrailersEvent(TypedDict):
    """`http.response.trailers`: trailing headers, after the body (HTTP trailers extension)."""

    type: Literal["http.response.trailers"]
    headers: NotRequired[_Headers]
    more_trailers: NotRequired[bool]


class HTTPResponsePathsendEvent(TypedDict):
    """`http.response.pathsend`: send the file at `path` as the body (pathsend extension)."""

    type: Literal["http.response.pathsend"]
    path: str


class HTTPServerPushEvent(TypedDict):
    """`http.response.push`: ask the server to push a resource (HTTP/2 server push)."""

    type: Literal["http.response.push"]
    path: str
    headers: _Headers


class HTTPDisconnectEvent(TypedDict):
    """`http.disconnect`: the client went away, or the response is complete."""

    type: Literal["http.disconnect"]


# --- WebSocket events --------------------------------------------------------------------


class WebSocketConnectEvent(TypedDict):
    """`websocket.connect`: the client asks to open the WebSocket."""

    type: Literal["websocket.connect"]


class WebSocketAcceptEvent(TypedDict):
    """`websocket.accept`: the application accepts the connection."""

    type: Literal["websocket.accept"]
    subprotocol: NotRequired[Optional[str]]
    headers: NotRequired[_Headers]


class WebSocketReceiveEvent(TypedDict):
    """`websocket.receive`: a message from the client; exactly one of bytes or text is set."""

    type: Literal["websocket.receive"]
    bytes: NotRequired[Optional[bytes]]
    text: NotRequired[Optional[str]]


class WebSocketSendEvent(TypedDict):
    """`websocket.send`: a message to the client; exactly one of bytes or text is set."""

    type: Literal["websocket.send"]
    bytes: NotRequired[Optional[bytes]]
    text: NotRequired[Optional[str]]


class WebSocketResponseStartEvent(TypedDict):
    """`websocket.http.response.start`: reject the handshake with an HTTP response."""

    type: Literal["websocket.http.response.start"]
    status: int
    headers: NotRequired[_Headers]


class WebSocketResponseBodyEvent(TypedDict):
    """`websocket.http.response.body`: a body chunk of that HTTP rejection response."""

    type: Literal["websocket.http.response.body"]
    body: NotRequired[bytes]
    more_body: NotRequired[bool]


class WebSocketDisconnectEvent(TypedDict):
    """`websocket.disconnect`: the connection closed (server to application)."""

    type: Literal["websocket.disconnect"]
    code: NotRequired[int]
    reason: NotRequired[Optional[str]]


class WebSocketCloseEvent(TypedDict):
    """`websocket.close`: close the connection, or reject it before accepting."""

    type: Literal["websocket.close"]
    code: NotRequired[int]
    reason: NotRequired[Optional[str]]


# --- lifespan events ---------------------------------------------------------------------


class LifespanStartupEvent(TypedDict):
    """`lifespan.startup`: the server is starting up."""

    type: Literal["lifespan.startup"]


class LifespanShutdownEvent(TypedDict):
    """`lifespan.shutdown`: the server is shutting down."""

    type: Literal["lifespan.shutdown"]


class LifespanStartupCompleteEvent(TypedDict):
    """`lifespan.startup.complete`: the application finished its startup."""

    type: Literal["lifespan.startup.complete"]


class LifespanStartupFailedEvent(TypedDict):
    """`lifespan.startup.failed`: the application's startup failed."""

    type: Literal["lifespan.startup.failed"]
    message: NotRequired[str]


class LifespanShutdownCompleteEvent(TypedDict):
    """`lifespan.shutdown.complete`: the application finished its shutdown."""

    type: Literal["lifespan.shutdown.complete"]


class LifespanShutdownFailedEvent(TypedDict):
    """`lifespan.shutdown.failed`: the application's shutdown failed."""

    type: Literal["lifespan.shutdown.failed"]
    message: NotRequired[str]


# --- the application side ----------------------------------------------------------------

ASGIReceiveEvent = Union[
    HTTPRequestEvent,
    HTTPDisconnectEvent,
    WebSocketConnectEvent,
    WebSocketReceiveEvent,
    WebSocketDisconnectEvent,
    LifespanStartupEvent,
    LifespanShutdownEvent,
]

ASGISendEvent = Union[
    HTTPResponseStartEvent,
    HTTPResponseBodyEvent,
    HTTPResponseTrailersEvent,
    HTTPResponsePathsendEvent,
    HTTPServerPushEvent,
    HTTPDisconnectEvent,
    WebSocketAcceptEvent,
    WebSocketSendEvent,
    WebSocketResponseStartEvent,
    WebSocketResponseBodyEvent,
    WebSocketCloseEvent,
    LifespanStartupCompleteEvent,
    LifespanStartupFailedEvent,
    LifespanShutdownCompleteEvent,
    LifespanShutdownFailedEvent,
]

ASGIReceiveCallable = Callable[[], Awaitable[ASGIReceiveEvent]]
ASGISendCallable = Callable[[ASGISendEvent], Awaitable[None]]


class ASGI2Protocol(Protocol):
    """An ASGI 2 ("double callable") application: built with the scope, then awaited."""

    def __init__(self, scope: Scope) -> None: ...

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None: ...


ASGI2Application = Type[ASGI2Protocol]
ASGI3Application = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]
ASGIApplication = Union[ASGI2Application, ASGI3Application]
