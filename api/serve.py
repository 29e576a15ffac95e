"""Serve the API: `python -m api.serve` (what `make run` and docker-compose.yml start).

uvicorn with the service's own bounds on slow clients: a connection must send its request's headers
within `request_header_timeout_seconds` of its first byte (or of connecting), or it is closed; the
body's bound is the app's (`RequestMiddleware`, 408). Without this, uvicorn keeps a connection that
trickles its headers a byte at a time open for as long as the client likes. The `Server` header is
not sent (it names the server and its version to anyone who asks).
"""

from __future__ import annotations

import asyncio

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from infra.settings import Settings, load_settings


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head does not arrive in time."""

    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_header()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_header()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _watch_header(self) -> None:
        """Between requests (h11's IDLE) a head is awaited: bound it. Once it is in, stop. The idle
        wait after a response is uvicorn's keep-alive timeout; this timer starts again with the next
        request's first byte, as uvicorn's keep-alive timer stops then."""
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)
        else:
            self._stop_header_timer()

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def protocol_for(settings: Settings) -> type[HeaderTimeoutH11Protocol]:
    return type(
        "HeaderTimeoutH11Protocol",
        (HeaderTimeoutH11Protocol,),
        {"header_timeout": settings.request_header_timeout_seconds},
    )


def server_config(settings: Settings, app: object = "api.app:app") -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        http=protocol_for(settings),
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_keep_alive=5,
        server_header=False,
        access_log=False,  # the app logs one line per request (RequestMiddleware)
    )


def main() -> None:
    uvicorn.Server(server_config(load_settings())).run()


if __name__ == "__main__":
    main()
