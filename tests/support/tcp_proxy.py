"""A tiny real TCP proxy on 127.0.0.1 whose listener a test can close and reopen.

Put it in front of a dependency (PostgreSQL) to make that dependency unreachable on demand::

    with TcpProxy("127.0.0.1", 5432) as proxy:
        uri = f"postgresql://postgres@127.0.0.1:{proxy.port}/db"
        proxy.down()              # closed port: connections are refused; open ones are cut
        proxy.up()                # listening again on the same port, forwarding
        proxy.set_mode("reset")   # listening, but every connection is accepted and closed at once
                                  # (a server that is stopping or crashed)

``accepted`` counts connections that reached the proxy, ``forwarded`` those piped upstream and
``reset`` those closed at once. Runs its own event loop in a daemon thread.
"""
from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

MODES = ("forward", "reset")
_CHUNK = 65536


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = 0
        self.mode = "forward"
        self.accepted = 0
        self.forwarded = 0
        self.reset = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # ----------------------------------------------------------------- lifecycle
    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> TcpProxy:
        self._thread.start()
        self.up()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.down()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    @property
    def listening(self) -> bool:
        return self._server is not None

    def up(self) -> None:
        """Listen (again) on the same port."""
        self._call(self._listen())

    def down(self, sever: bool = True) -> None:
        """Close the listener (the port refuses connections); ``sever`` also cuts open connections."""
        self._call(self._unlisten(sever))

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        self.mode = mode

    # ----------------------------------------------------------------- internals
    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _listen(self) -> None:
        if self._server is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self._server = await asyncio.start_server(self._handle, sock=sock)
        self.port = sock.getsockname()[1]

    async def _unlisten(self, sever: bool) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if sever:
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "reset":
            self.reset += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self.forwarded += 1
        self._writers.update((writer, up_writer))
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(_CHUNK):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
