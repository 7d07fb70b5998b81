"""The SMTP half of the fault matrix: a relay that refuses, drops the connection mid-DATA or after it, or
hangs. Each time the alerts stay pending with the reason, and once a working relay is back every alert
arrives exactly once (same Message-ID as recorded), and a further run sends nothing."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from pipeline.alerts import list_alerts, load_rules, run_alerts
from pipeline.config import Settings
from pipeline.stores import Store
from tests.helpers import MOU, article, with_smtp
from tests.reliability.smtpfaults import MidDataDropper, Silent, drop_after_data, refusing
from tests.smtpserver import SmtpServer, free_port

STORIES = [
    (1, "Malaysia, Thailand sign MoU", MOU),
    (
        2,
        "Pakistan and the United States hold counter-terrorism dialogue",
        "Pakistan and the United States held a bilateral counter-terrorism dialogue in Islamabad on Monday.",
    ),
]


class NothingListening:
    """A port nobody listens on."""

    def __init__(self) -> None:
        self.port = free_port()

    def stop(self) -> None:
        pass


@contextmanager
def server(make: Callable[[], Any]) -> Iterator[Any]:
    """Any of the relays here (each has `port` and `stop()`) for the duration of the block."""
    running = make()
    try:
        yield running
    finally:
        running.stop()


FAULTS: dict[str, tuple[Callable[[], Any], str]] = {
    "smtp-connection-refused": (lambda: server(NothingListening), r"ConnectionRefusedError"),
    "smtp-recipient-refused": (
        lambda: server(lambda: refusing("rcpt", "550 5.7.1 Relaying denied")),
        r"SMTPRecipientsRefused.*Relaying denied",
    ),
    "smtp-message-refused-temporarily": (
        lambda: server(lambda: refusing("data", "451 4.3.0 Try again later")),
        r"SMTPDataError.*451",
    ),
    "smtp-dropped-mid-data": (
        lambda: server(MidDataDropper),
        r"SMTPServerDisconnected|ConnectionResetError|BrokenPipe",
    ),
    "smtp-dropped-before-reply": (lambda: server(drop_after_data), r"SMTPServerDisconnected|ConnectionResetError"),
    "smtp-timeout": (lambda: server(Silent), r"TimeoutError|timed out"),
}


RELAY_FAULTS = {"smtp-connection-refused", "smtp-dropped-mid-data", "smtp-dropped-before-reply", "smtp-timeout"}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_smtp_fault_keeps_alerts_pending_then_each_is_sent_once(
    fault: str, settings: Settings, store: Store, smtp: SmtpServer
) -> None:
    list(store.upsert([article(n, title, text) for n, title, text in STORIES]))
    make, reason = FAULTS[fault]
    with make() as bad:
        broken = run_alerts(store, with_smtp(settings, bad.port, timeout_seconds=1))
        received_by_bad = len(getattr(bad, "messages", []))
    assert broken.created == 4  # two immediate alerts, two items for the digest
    assert broken.sent == 0 and broken.failed == 2
    pending = [r for r in list_alerts(store, "pending") if r.delivery == "immediate"]
    assert len(pending) == 2
    for record in pending:
        assert re.search(reason, record.last_error or ""), record.last_error
    if fault in RELAY_FAULTS:  # the relay itself failed: the second alert was not tried, and waited for nothing
        assert sorted(r.attempts for r in pending) == [0, 1]
        assert any("not tried, the relay failed earlier" in (r.last_error or "") for r in pending)
    else:  # one message refused: the next one is still tried
        assert [r.attempts for r in pending] == [1, 1]
    assert received_by_bad == 0  # nothing was accepted, so nothing may count as delivered

    back = run_alerts(store, with_smtp(settings, smtp.port))
    assert back.sent == 2 and back.created == 0
    assert sorted(m["Message-ID"] for m in smtp.messages) == sorted(r.message_id for r in pending)
    assert run_alerts(store, with_smtp(settings, smtp.port)).sent == 0 and len(smtp.messages) == 2
    assert not [r for r in list_alerts(store, "pending") if r.delivery == "immediate"]


def test_partly_refused_recipients_are_recorded_and_retried_with_the_same_message_id(
    settings: Settings, store: Store
) -> None:
    """A relay that takes one analyst and refuses the other (550, mailbox unavailable): the alert counts as
    sent, the refusal is recorded on it, and each later run sends the same message (same Message-ID) to the
    refused recipient only, until the relay takes it."""
    analysts, desk = "analysts@newswatch.example", "desk@newswatch.example"
    rules = [
        r.model_copy(update={"recipients": [analysts, desk]}) for r in load_rules() if r.id == "bilateral-agreements"
    ]
    list(store.upsert([article(1, "Malaysia, Thailand sign MoU", MOU)]))
    relay = refusing("rcpt", "550 5.1.1 Mailbox unavailable", only={desk})
    try:
        first = run_alerts(store, with_smtp(settings, relay.port), rules=rules)
        assert first.sent == 1 and first.failed == 0 and relay.inbox.envelopes == [[analysts]]
        (record,) = list_alerts(store)
        assert record.status == "sent" and set(record.refused) == {desk} and "550" in record.refused[desk]
        assert "refused: desk@newswatch.example" in (record.last_error or "")

        still = run_alerts(store, with_smtp(settings, relay.port), rules=rules)  # the mailbox is still full
        assert still.resent == 0 and still.failed == 1 and len(relay.messages) == 1

        relay.inbox.only = set()  # the desk's mailbox works again
        later = run_alerts(store, with_smtp(settings, relay.port), rules=rules)
        assert later.resent == 1 and relay.inbox.envelopes[1] == [desk]
        assert relay.messages[1]["Message-ID"] == relay.messages[0]["Message-ID"] == record.message_id
        (record,) = list_alerts(store)
        assert record.refused == {} and record.last_error is None
        assert run_alerts(store, with_smtp(settings, relay.port), rules=rules).resent == 0 and len(relay.messages) == 2
    finally:
        relay.stop()
