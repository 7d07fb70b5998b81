"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts."""

from __future__ import annotations

import email
import email.policy
import socket
import time
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.conftest import server_unavailable


class Inbox:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[list[str]] = []  # the accepted recipients of each message
        self.arrivals: list[float] = []  # time.monotonic() of each message

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.envelopes.append(list(envelope.rcpt_tos))
        self.arrivals.append(time.monotonic())
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    def __init__(self, inbox: Inbox | None = None, **smtp_parameters) -> None:
        self.inbox = inbox or Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **smtp_parameters)

    @property
    def messages(self) -> list[EmailMessage]:
        return self.inbox.messages

    def stop(self) -> None:
        self.controller.stop()


def start(server: SmtpServer) -> SmtpServer:
    try:
        server.controller.start()
    except Exception as exc:  # noqa: BLE001 - any failure to start is reported the same way
        server_unavailable("SMTP server (aiosmtpd) on 127.0.0.1", repr(exc))
    return server
