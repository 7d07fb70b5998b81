"""The alerts job over a store: run each rule over newly indexed articles, record alerts, deliver them.

State kept in the store (so a run can be repeated or resumed):
  alert_watermark/<rule>             newest indexed_at the rule has evaluated
  alert_story/<rule>|<dyad>          the current story: first report, its alert, every source seen
  alert/<alert id>                   one alert record (pipeline.alerts.records): pending -> sent (or muted), with
                                     its Message-ID and errors
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from pipeline.alerts.actions import hold_muted
from pipeline.alerts.mail import SEND_ERRORS, Mailer, RelayUnavailable
from pipeline.alerts.records import get_alert, list_alerts, save
from pipeline.alerts.render import build_message, render_alert, render_digest
from pipeline.alerts.rules import Rule, load_rules
from pipeline.alerts.stories import AlertRecord, matching_reports, new_record, next_story, split_stories
from pipeline.config import Settings, SmtpSettings
from pipeline.stores.base import Store

WATERMARK, STORY = "alert_watermark", "alert_story"


@dataclass
class AlertRun:
    """What one evaluation and delivery did."""

    created: int = 0
    updates: int = 0
    sent: int = 0
    failed: int = 0
    digests_sent: int = 0
    resent: int = 0  # emails sent again to recipients the relay refused before
    muted: int = 0  # pending alerts of a muted country pair or story, held and never sent
    errors: list[str] = field(default_factory=list)


def run_rule(
    store: Store, rule: Rule, now: datetime | None = None, dry_run: bool = False
) -> tuple[list[AlertRecord], int]:
    """New alert records for what was indexed since the rule's watermark and has settled (indexed before now
    minus the store's settle time); returns (records, updates).

    Several reports of one story in this batch make one record; a story already alerted within the
    window gets its new sources recorded (and a digest update), never a second immediate alert. With
    `dry_run` nothing is written.
    """
    now = now or datetime.now(UTC)
    mark = store.state_get(WATERMARK, rule.id)
    since = datetime.fromisoformat(mark["indexed_at"]) if mark else None
    # only what has settled: a document stamped before `until` is visible by now (Store.settle)
    articles = store.query(since=since, until=now - store.settle, time_field="indexed_at", limit=None)
    window = timedelta(days=rule.story_window_days)
    records: list[AlertRecord] = []
    for sid, reports in matching_reports(rule, articles).items():
        for story, fresh in split_stories(store.state_get(STORY, sid), reports, window):
            record = new_record(rule, sid, story, fresh, now)
            records.append(record)
            if dry_run:
                continue
            if get_alert(store, record.id) is None:
                save(store, record)
            store.state_put(STORY, sid, next_story(story, fresh, record))
    if not dry_run and articles:
        newest = max(a.indexed_at for a in articles if a.indexed_at)
        store.state_put(WATERMARK, rule.id, {"indexed_at": newest.isoformat()})
    return records, sum(r.update for r in records)


@dataclass
class Outgoing:
    """One email and the alert records it delivers."""

    key: str  # outbox file name, unique per email
    label: str  # how an error names it
    message: EmailMessage
    records: list[AlertRecord]
    digest_id: str | None = None
    to: list[str] | None = None  # envelope recipients when not the message's own (a retry to refused ones)


def _alert_out(
    record: AlertRecord,
    rule: Rule,
    smtp: SmtpSettings,
    now: datetime,
    to: list[str] | None = None,
    kibana_url: str | None = None,
) -> Outgoing:
    """The email of one immediate alert (to `to` only, for a retry to refused recipients)."""
    subject, text, html = render_alert(record, rule, kibana_url)
    message = build_message(subject, text, html, rule.recipients, smtp, record.message_id, now)
    label = record.id if to is None else f"{record.id} (refused recipients)"
    return Outgoing(record.id, label, message, [record], to=to)


def _digest_out(
    items: list[AlertRecord],
    rule: Rule,
    digest_id: str,
    smtp: SmtpSettings,
    now: datetime,
    dated: datetime | None = None,
    to: list[str] | None = None,
    kibana_url: str | None = None,
) -> Outgoing:
    """One rule's digest of `items` under `digest_id` (its Message-ID); its heading is `dated` (default now)."""
    subject, text, html = render_digest(items, rule, dated or now, kibana_url)
    msgid = make_msgid(idstring=digest_id, domain="newswatch.local")
    message = build_message(subject, text, html, rule.recipients, smtp, msgid, now)
    label = f"digest {rule.id}" if to is None else f"digest {rule.id} (refused recipients)"
    return Outgoing(f"digest-{digest_id}", label, message, items, digest_id, to=to)


def immediate_mail(
    pending: list[AlertRecord], rules: dict[str, Rule], smtp: SmtpSettings, now: datetime, kibana_url: str | None = None
) -> Iterator[Outgoing]:
    """One email per pending immediate alert of an active rule."""
    for record in pending:
        if record.delivery == "immediate" and record.rule in rules:
            yield _alert_out(record, rules[record.rule], smtp, now, kibana_url=kibana_url)


def digest_mail(
    pending: list[AlertRecord], rules: dict[str, Rule], smtp: SmtpSettings, now: datetime, kibana_url: str | None = None
) -> Iterator[Outgoing]:
    """One email per active rule with every pending digest item (digest rules' stories, and updates)."""
    pending = [r for r in pending if r.delivery == "digest" and r.rule in rules]
    for rule_id in sorted({r.rule for r in pending}):
        items = [r for r in pending if r.rule == rule_id]
        digest_id = hashlib.sha1(",".join(r.id for r in items).encode()).hexdigest()[:16]
        yield _digest_out(items, rules[rule_id], digest_id, smtp, now, kibana_url=kibana_url)


def refused_mail(
    sent: list[AlertRecord], rules: dict[str, Rule], smtp: SmtpSettings, now: datetime, kibana_url: str | None = None
) -> Iterator[Outgoing]:
    """The same emails again (same Message-ID), to the recipients the relay refused last time only."""
    digests: dict[str, list[AlertRecord]] = {}
    for record in sent:
        if not record.refused or record.rule not in rules:
            continue
        if record.delivery == "immediate":
            yield _alert_out(record, rules[record.rule], smtp, now, to=sorted(record.refused), kibana_url=kibana_url)
        elif record.digest_id:
            digests.setdefault(record.digest_id, []).append(record)
    for digest_id, items in digests.items():
        first = items[0]
        rule, to = rules[first.rule], sorted(first.refused)
        yield _digest_out(items, rule, digest_id, smtp, now, first.sent_at, to=to, kibana_url=kibana_url)


def deliver(store: Store, outgoing: Iterable[Outgoing], mailer: Mailer, run: AlertRun, now: datetime) -> int:
    """Send each email; returns how many went. Its records are marked sent at the mailer's commit point, with
    the recipients the relay refused (retried by `refused_mail`); a failure keeps them as they were (pending)
    with the reason (a message not even tried does not count as an attempt)."""
    sent = 0
    for out in outgoing:

        def commit(where: str, refused: dict[str, str], out: Outgoing = out) -> None:
            error = "refused: " + "; ".join(f"{a} ({r})" for a, r in sorted(refused.items())) if refused else None
            for record in out.records:
                save(
                    store,
                    record,
                    status="sent",
                    sent_at=now,
                    delivered_to=where,
                    digest_id=out.digest_id,
                    attempts=record.attempts + 1,
                    last_error=error,
                    refused=refused,
                )

        try:
            mailer.send(out.message, out.key, commit=commit, to=out.to)
        except SEND_ERRORS as exc:  # also undoes `commit` if the server refused the finished message
            reason = f"{type(exc).__name__}: {exc}"
            tried = 0 if isinstance(exc, RelayUnavailable) else 1
            run.failed += 1
            run.errors.append(f"{out.label}: {reason}")
            for record in out.records:
                save(store, record, attempts=record.attempts + tried, last_error=reason)
            continue
        sent += 1
    return sent


def settle_wait(store: Store, now: datetime) -> float:
    """Seconds until the newest indexed article has settled (0 when it has, or the store needs no settle)."""
    if not store.settle:
        return 0.0
    newest = store.query(since=now - store.settle, time_field="indexed_at", limit=1)
    if not newest or newest[0].indexed_at is None:
        return 0.0
    wait = (newest[0].indexed_at + store.settle - now).total_seconds()
    return wait + 0.01 if wait >= 0 else 0.0  # past it: rules read up to now minus the settle time, excluded


def run_alerts(
    store: Store,
    settings: Settings,
    *,
    digest: bool = False,
    rules: Iterable[Rule] | None = None,
    now: datetime | None = None,
    wait: bool = False,
) -> AlertRun:
    """Run every enabled rule, hold the pending alerts of muted pairs and stories, then deliver pending
    immediate alerts (and digests when asked), and send again to the recipients a relay refused in an earlier
    run. With `wait`, first wait until what is already indexed
    has settled (the store's settle time, 0 on SQLite), so that a run just after an ingest alerts on it."""
    now = now or datetime.now(UTC)
    if wait and (delay := settle_wait(store, now)):
        time.sleep(delay)
        now += timedelta(seconds=delay)
    active = {r.id: r for r in (rules if rules is not None else load_rules()) if r.enabled}
    run = AlertRun()
    for rule in active.values():
        records, updates = run_rule(store, rule, now)
        run.created += len(records) - updates
        run.updates += updates
    run.muted = hold_muted(store, now)
    refused_before = [r for r in list_alerts(store, "sent") if r.refused]  # not those refused in this run again
    with closing(Mailer(settings.smtp, settings.outbox_dir)) as mailer:
        smtp, link = settings.smtp, settings.kibana_public_url
        pending = list_alerts(store, "pending")
        run.sent = deliver(store, immediate_mail(pending, active, smtp, now, link), mailer, run, now)
        if digest:
            pending = list_alerts(store, "pending")
            run.digests_sent = deliver(store, digest_mail(pending, active, smtp, now, link), mailer, run, now)
        run.resent = deliver(store, refused_mail(refused_before, active, smtp, now, link), mailer, run, now)
    return run
