"""How the web server treats slow and vanishing clients: `install()` before `demo.launch`.

Gradio starts uvicorn itself, with uvicorn's defaults and no way to pass settings. Two of those matter on a
public link:

- uvicorn has no deadline for receiving a request. Its keep-alive timeout (`timeout_keep_alive`, 5 s) covers
  the idle time between requests only and is reset by every byte received, so a client sending a byte every
  2 s held a connection (and, mid-body, a request) forever; h11's `max_incomplete_event_size` (16 kB) bounds
  the size of the headers, not their time. `DeadlineProtocol` is uvicorn's h11 protocol with one: each
  request (line, headers and body) must arrive whole within `request_seconds` of its first byte, or of the
  connection's opening, else the client gets 408 and the connection is closed. It is disarmed as soon as
  the request is in, so long answers (Gradio's event streams) are never cut, and on a WebSocket upgrade.
- uvicorn has no cap on a request's size, and some of Gradio's routes (`/gradio_api/component_server`) read a
  whole form into memory before anything checks it. `DeadlineProtocol` also counts each request's bytes as
  they arrive and answers 413 and closes the connection past `max_request_bytes` (set from the app's upload
  limits; `Settings.request_limit_bytes`), so no route reads more than that.
- A client that disconnects mid-request made uvicorn log "Exception in ASGI application" with a full
  traceback at ERROR (Starlette's ClientDisconnect, raised inside Gradio's routes, e.g. an upload).
  `QuietDisconnects` turns that into one INFO line.

`install` sets both for uvicorn servers configured after it (http="auto" or "h11", which Gradio uses), and
gives this package's loggers a console line at INFO when nothing else configured logging.
"""

from __future__ import annotations

import logging

import h11
from starlette.requests import ClientDisconnect
from uvicorn import config as uvicorn_config
from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_SECONDS = 60.0  # a 20 MB checkpoint upload (the largest the app takes by default) needs 2.7 Mbit/s
log = logging.getLogger("mnist_demo.server")
RECEIVING = (h11.IDLE, h11.SEND_BODY)  # the client's h11 states while its request is still arriving
_UVICORN_PROTOCOLS = dict(uvicorn_config.HTTP_PROTOCOLS)


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for receiving each request whole (see the module docstring)."""

    request_seconds: float = REQUEST_SECONDS
    max_request_bytes: int | None = None  # None: no cap

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = None
        self._received = 0
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._received = 0
            if self._deadline is None:
                self._arm()  # the first byte of the next request on a kept-alive connection
        self._received += len(data)
        if self.max_request_bytes is not None and self._received > self.max_request_bytes:
            self._refuse(413, "Content Too Large", f"a request may send at most {self.max_request_bytes:,} bytes",
                         "sent more than %s bytes" % f"{self.max_request_bytes:,}")
            return
        super().data_received(data)
        if self.conn.their_state not in RECEIVING:
            self._disarm()  # the request is in (or the connection is closing or switching protocols)

    def handle_websocket_upgrade(self, event) -> None:
        self._disarm()
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        if self.request_seconds != float("inf"):
            self._deadline = self.loop.call_later(self.request_seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state not in RECEIVING:
            return
        self._refuse(408, "Request Timeout", f"the request did not arrive within {self.request_seconds:g} s",
                     f"its request did not arrive within {self.request_seconds:g} s")

    def _refuse(self, status: int, reason: str, says: str, logged: str) -> None:
        """Answer `status` (unless an answer has begun), log one INFO line and close the connection."""
        self._disarm()
        if self.transport.is_closing():
            return
        client = "%s:%d" % tuple(self.client[:2]) if self.client else "a client"
        log.info("%s: closed the connection: %s", client, logged)
        if self.cycle is None or not self.cycle.response_started:
            body = f"{reason}: {says}\n".encode()
            self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                 b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
                                 % (status, reason.encode(), len(body), body))
        self.transport.close()  # the app, if it was waiting for the body, gets a disconnect


def is_disconnect(error: BaseException | None) -> bool:
    """A client that went away: Starlette's ClientDisconnect, or a group made only of those."""
    if isinstance(error, BaseExceptionGroup):
        return all(is_disconnect(e) for e in error.exceptions)
    return isinstance(error, ClientDisconnect)


class QuietDisconnects(logging.Filter):
    """On uvicorn's error logger: a disconnect's "Exception in ASGI application" becomes one INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not (record.exc_info and is_disconnect(record.exc_info[1])):
            return True
        log.info("a client disconnected before its request was complete")
        return False


_QUIET = QuietDisconnects()


def install(request_seconds: float | None = REQUEST_SECONDS, max_request_bytes: int | None = None) -> None:
    """Deadline (None: none) and size cap (None: none) for requests, and quiet disconnects, for servers started
    after this; with neither, uvicorn's own protocol is used as it is."""
    error_log = logging.getLogger("uvicorn.error")
    if _QUIET not in error_log.filters:
        error_log.addFilter(_QUIET)
    package = logging.getLogger("mnist_demo")
    if not package.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))  # uvicorn's look
        package.addHandler(handler)
        package.setLevel(logging.INFO)
    guarded = request_seconds is not None or max_request_bytes is not None
    for name in ("auto", "h11"):
        uvicorn_config.HTTP_PROTOCOLS[name] = _UVICORN_PROTOCOLS[name]
        if guarded:
            uvicorn_config.HTTP_PROTOCOLS[name] = f"{__name__}:DeadlineProtocol"
    DeadlineProtocol.request_seconds = float("inf") if request_seconds is None else float(request_seconds)
    DeadlineProtocol.max_request_bytes = max_request_bytes
