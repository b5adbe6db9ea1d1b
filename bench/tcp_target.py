"""A fast loopback TCP target for ``bench/probes.py --kind tcp``, run as its own process.

Usage: python bench/tcp_target.py PORT_FILE [--banner] — binds 127.0.0.1:0, writes the port to
PORT_FILE, and closes every connection it accepts at once, after writing ``220 ready\\r\\n``
with ``--banner``, until killed. Raw asyncio, like bench/target.py, so the target costs as
little CPU as possible.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

BANNER = b"220 ready\r\n"


class Accept(asyncio.Protocol):
    greeting = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.greeting:
            transport.write(self.greeting)  # type: ignore[attr-defined]
        transport.close()  # after the greeting is flushed


async def main(port_file: str, banner: bool) -> None:
    Accept.greeting = BANNER if banner else b""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Accept, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    await asyncio.to_thread(Path(port_file).write_text, str(port))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], "--banner" in sys.argv[2:]))
