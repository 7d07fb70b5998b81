"""SMTP delivery (STARTTLS, implicit TLS or plain) or an outbox folder of .eml files. A message is marked sent
just before its end-of-data line, so a crash never makes the relay receive it twice; a relay reply lost after
that line makes the next run send it again with the same Message-ID: delivery is at-least-once."""

from __future__ import annotations

import io
import re
import smtplib
import ssl
from collections.abc import Callable
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from pathlib import Path

from pipeline.config import SmtpSettings

Refused = dict[str, str]  # recipient -> the relay's reply


class RelayUnavailable(smtplib.SMTPException):
    """The relay failed at the connection level earlier in this run; the message was not tried."""


# Refusals of one message (its sender, recipients or content). Any other failure is the relay's (connection,
# timeout, TLS, login): after one of those the rest of the run's messages are not tried (each would wait out the
# same timeout); they stay pending for the next run.
MESSAGE_REFUSALS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


class Mailer:
    """Sends through SMTP (STARTTLS, implicit TLS or plain, optional login), or writes .eml files
    to the outbox folder when no SMTP host is configured.

    Several messages share one SMTP session (opened on the first send, closed by `close`). A failed send drops
    the session; the next send opens a new one, unless the relay itself failed (anything but MESSAGE_REFUSALS),
    in which case the following sends raise RelayUnavailable at once."""

    def __init__(self, smtp: SmtpSettings, outbox: Path) -> None:
        self.smtp = smtp
        self.outbox = outbox
        self._client: smtplib.SMTP | None = None
        self.relay_error: str | None = None

    @property
    def target(self) -> str:
        if not self.smtp.host:
            return f"outbox {self.outbox}"
        return f"smtp {self.smtp.host}:{self.smtp.effective_port} ({self.smtp.security})"

    def send(
        self,
        message: EmailMessage,
        key: str,
        commit: Callable[[str, Refused], None] | None = None,
        to: list[str] | None = None,
    ) -> str:
        """Deliver one message (to `to`, default its To and Cc); returns where it went. Raises smtplib/OS/SSL
        errors.

        `commit(where, refused)` records the message as sent at the last moment the delivery can still be
        undone: over SMTP, once the whole message is transmitted and before the end-of-data line that lets the
        server accept it; `refused` maps the recipients the relay refused (while taking the others) to its
        reply. A process killed before the commit leaves the server with an unfinished message, which it drops,
        and the record pending. If the server refuses the finished message, or the connection is lost before
        its reply, the error is raised after the commit and the caller records it as not sent: the next run
        sends it again with the same Message-ID (at-least-once)."""
        commit = commit or (lambda where, refused: None)
        if not self.smtp.host:
            self.outbox.mkdir(parents=True, exist_ok=True)
            path = self.outbox / f"{key}.eml"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(bytes(message))
            tmp.replace(path)  # atomic, and a rerun writes the same file again
            commit(str(path), {})
            return str(path)
        if self.relay_error:
            raise RelayUnavailable(f"not tried, the relay failed earlier in this run ({self.relay_error})")
        where = f"{self.smtp.host}:{self.smtp.effective_port}"
        try:
            client = self._client or self._connect()
            _transmit(client, message, lambda refused: commit(where, refused), to)
        except BaseException as exc:
            self._drop()
            if isinstance(exc, Exception) and not isinstance(exc, MESSAGE_REFUSALS):
                self.relay_error = f"{type(exc).__name__}: {exc}"
            raise
        return where

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=str(self.smtp.ca_file) if self.smtp.ca_file else None)
        port, timeout = self.smtp.effective_port, self.smtp.timeout
        client: smtplib.SMTP
        if self.smtp.security == "tls":
            client = smtplib.SMTP_SSL(self.smtp.host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(self.smtp.host, port, timeout=timeout)
        self._client = client
        if self.smtp.security == "starttls":
            client.starttls(context=context)
        if self.smtp.username and self.smtp.password:
            client.login(self.smtp.username, self.smtp.password.get_secret_value())
        return client

    def _drop(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None

    def close(self) -> None:
        """End the SMTP session politely (QUIT); a server that is already gone is not an error."""
        if self._client is not None:
            try:
                self._client.quit()
            except (smtplib.SMTPException, OSError):
                pass
            finally:
                self._drop()


def _smtp_data(message: EmailMessage) -> bytes:
    """The message as SMTP DATA content: CRLF line ends, leading dots doubled, without the final "." line."""
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=message.policy).flatten(message, linesep="\r\n")
    data = re.sub(rb"(?m)^\.", b"..", buffer.getvalue())
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def _transmit(
    client: smtplib.SMTP, message: EmailMessage, commit: Callable[[Refused], None], to: list[str] | None
) -> None:
    """MAIL, RCPT and DATA as smtplib's send_message does them, with `commit(refused)` called between the
    message and its end-of-data line (smtplib sends both in one call); `refused` holds the recipients the relay
    refused while it took the others. `to`: the envelope recipients (default: the To and Cc headers)."""
    sender = parseaddr(message["From"])[1]
    headers = message.get_all("To", []) + message.get_all("Cc", [])
    recipients = to if to is not None else [address for _, address in getaddresses(headers)]
    data = _smtp_data(message)
    client.ehlo_or_helo_if_needed()
    options = ["BODY=8BITMIME"] if client.has_extn("8bitmime") and any(b > 127 for b in data) else []
    code, reply = client.mail(sender, options)
    if code != 250:
        client.rset()
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused = {}
    for recipient in recipients:
        code, reply = client.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
    if len(refused) == len(recipients):
        client.rset()
        raise smtplib.SMTPRecipientsRefused(refused)
    code, reply = client.docmd("DATA")
    if code != 354:
        client.rset()
        raise smtplib.SMTPDataError(code, reply)
    client.send(data)
    commit({address: f"{code} {reply.decode(errors='replace')}" for address, (code, reply) in refused.items()})
    client.send(b".\r\n")
    code, reply = client.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


# What a failed send raises: the message stays pending with the reason, for the next run.
SEND_ERRORS = (smtplib.SMTPException, OSError, ssl.SSLError)
