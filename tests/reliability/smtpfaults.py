"""SMTP servers on 127.0.0.1 that fail in the ways a real mail relay does.

Refusals and a dropped connection after the message are aiosmtpd with a handler that answers so. Two faults
aiosmtpd cannot produce on demand are small servers of their own, and say so: `MidDataDropper` speaks SMTP up
to DATA, reads part of the message and closes the connection; `Silent` accepts connections and never answers.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from typing import Any

from tests.smtpserver import Inbox, SmtpServer, start


class Refusing(Inbox):
    """Refuses every recipient (a relay that denies us), or only the addresses in `only` (a full or unknown
    mailbox) while taking the others, or every message (temporarily, 451). `only` can change between runs."""

    def __init__(self, *, at: str, reply: str, only: set[str] | None = None) -> None:
        super().__init__()
        self.at, self.reply, self.only = at, reply, only

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:  # noqa: N802
        if self.at == "rcpt" and (self.only is None or address in self.only):
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.at == "data":
            return self.reply
        return await super().handle_DATA(server, session, envelope)


class DropAfterData(Inbox):
    """Receives the whole message, then drops the connection instead of answering 250: the message was
    never accepted (a relay restarting), so it is not kept."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        server.transport.abort()
        return "421 closing"


def refusing(at: str, reply: str, only: set[str] | None = None) -> SmtpServer:
    return start(SmtpServer(Refusing(at=at, reply=reply, only=only)))


def drop_after_data() -> SmtpServer:
    return start(SmtpServer(DropAfterData()))


class _Threaded(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class MidDataDropper:
    """A stand-in SMTP server (aiosmtpd cannot cut a message in half on demand): answers EHLO, MAIL, RCPT and
    DATA, reads `cut` bytes of the message and closes the connection. `connections` counts the attempts."""

    def __init__(self, cut: int = 64) -> None:
        self.connections = 0
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                owner.connections += 1
                self.wfile.write(b"220 dropper ESMTP\r\n")
                while line := self.rfile.readline():
                    verb = line[:4].upper()
                    if verb == b"DATA":
                        self.wfile.write(b"354 go ahead\r\n")
                        self.rfile.read(cut)
                        return  # the connection closes with the message half sent
                    if verb == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    self.wfile.write(b"250 OK\r\n")

        self.server = _Threaded(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Silent:
    """A stand-in for a hung relay: the port accepts connections (kernel backlog) and never sends a byte."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = self.socket.getsockname()[1]

    def stop(self) -> None:
        self.socket.close()
