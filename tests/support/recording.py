"""A raw HTTP/1.1 server that records every request's bytes as they arrived (head and body).

For the differential test of the engines: both must send byte-identical requests for the same
endpoint. Keep-alive; answers ``200`` with a 2-byte body (HEAD: its head only); ``requests`` lists the raw bytes of
every request, in arrival order.
"""
from __future__ import annotations

import asyncio

from servers import ScriptedServer


class RecordingServer(ScriptedServer):
    """:class:`ScriptedServer` whose script records requests (``requests``: raw bytes each)."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        super().__init__(self._record)

    def __enter__(self) -> RecordingServer:
        super().__enter__()
        return self

    async def _record(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: ScriptedServer) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # the client closed the connection
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            self.requests.append(head + body)
            body_out = b"" if head.startswith(b"HEAD ") else b"ok"  # a HEAD response has no body
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" + body_out)
            await writer.drain()
