"""A loopback DNS server for ``bench/probes.py --kind dns``, run as its own process.

Usage: python bench/dns_target.py PORT_FILE — binds UDP 127.0.0.1:0, writes the port to
PORT_FILE, and answers every query until killed: ``A 127.0.0.1`` (TTL 60) for any name under
``bench.test``, NXDOMAIN for any other name, NOERROR with no answer for another record type
under ``bench.test``. Built on dnspython (``dns.message.from_wire`` / ``make_response``);
a datagram that does not parse is dropped.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

ZONE = dns.name.from_text("bench.test.")
ADDRESS = "127.0.0.1"


def answer(wire: bytes) -> bytes | None:
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None
    response = dns.message.make_response(query)
    if not query.question:
        response.set_rcode(dns.rcode.FORMERR)
        return response.to_wire()
    question = query.question[0]
    if not question.name.is_subdomain(ZONE):
        response.set_rcode(dns.rcode.NXDOMAIN)
    elif question.rdtype == dns.rdatatype.A and question.rdclass == dns.rdataclass.IN:
        response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", ADDRESS))
    return response.to_wire()


class Answer(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        wire = answer(data)
        if wire is not None:
            self.transport.sendto(wire, addr)  # type: ignore[attr-defined]


async def main(port_file: str) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Answer, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    await asyncio.to_thread(Path(port_file).write_text, str(port))
    try:
        await asyncio.Event().wait()  # until killed
    finally:
        transport.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
