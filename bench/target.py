"""A fast loopback HTTP target for the benchmarks, run as its own process.

Usage: python bench/target.py PORT_FILE — binds 127.0.0.1:0, writes the port to PORT_FILE, and
answers every request with ``200 ok`` until killed. Raw asyncio, so the target costs as little
CPU as possible and never competes with the measured process for the same core.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n"
    b"Connection: close\r\n\r\nok"
)


class Answer(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\r\n\r\n" in self.buf:
            self.transport.write(RESPONSE)  # type: ignore[attr-defined]
            self.transport.close()


async def main(port_file: str) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Answer, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    await asyncio.to_thread(Path(port_file).write_text, str(port))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
