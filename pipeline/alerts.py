"""Alerts: rules over new events (config/alerts.yaml), story-level dedup, Jinja2 emails, idempotent delivery.

State kept in the store (so a run can be repeated or resumed):
  alert_watermark/<rule>             newest indexed_at the rule has evaluated
  alert_story/<rule>|<type>|<dyad>   the current story: first report, its alert, every source seen
  alert/<alert id>                   one alert record: pending -> sent, with its Message-ID and errors
"""

from __future__ import annotations

import hashlib
import io
import re
import smtplib
import ssl
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from functools import cache
from datetime import UTC, datetime, timedelta
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.config import ConfigError, Settings, SmtpSettings, config_dir, describe_validation_error, load_yaml
from pipeline.countries import country_name
from pipeline.models import Article, Event, EventTypeName, ListedStatus
from pipeline.stores.base import Store

WATERMARK, STORY, ALERT = "alert_watermark", "alert_story", "alert"
EVENT_LABELS = {
    "agreement": "bilateral agreement",
    "dialogue": "bilateral dialogue",
    "intent": "pledge to cooperate",
    "material": "material cooperation",
}


class Match(BaseModel):
    """Conditions an event (and its article) must meet; all given ones must hold."""

    model_config = ConfigDict(extra="forbid")

    event_types: list[EventTypeName] = Field(default_factory=list)
    status: list[ListedStatus] = Field(default_factory=list)
    ct_relevant: bool | None = None
    countries_any: list[str] = Field(default_factory=list)
    countries_all: list[str] = Field(default_factory=list)
    concepts_any: list[str] = Field(default_factory=list)
    min_relevance: float = Field(0.0, ge=0, le=1)
    min_confidence: float = Field(0.0, ge=0, le=1)

    @field_validator("countries_any", "countries_all")
    @classmethod
    def _iso(cls, v: list[str]) -> list[str]:
        for code in v:
            if len(code) != 2 or not code.isalpha():
                raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 code")
        return [c.upper() for c in v]

    def accepts(self, event: Event, article: Article) -> bool:
        return (
            (not self.event_types or event.type in self.event_types)
            and (not self.status or event.status in self.status)
            and (self.ct_relevant is None or event.ct_relevant == self.ct_relevant)
            and (not self.countries_any or any(p in self.countries_any for p in event.parties))
            and all(c in event.parties for c in self.countries_all)
            and (not self.concepts_any or any(c in article.concepts for c in self.concepts_any))
            and article.relevance >= self.min_relevance
            and event.confidence >= self.min_confidence
        )


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str
    enabled: bool = True
    match: Match
    recipients: list[str]
    mode: Literal["immediate", "digest"] = "immediate"
    digest_schedule: str = "0 7 * * *"
    story_window_days: float = Field(3.0, gt=0)

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one recipient")
        for address in v:
            if "@" not in address:
                raise ValueError(f"{address!r} is not an email address")
        return v


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]

    @model_validator(mode="after")
    def _unique(self) -> RulesFile:
        ids = [r.id for r in self.rules]
        for rid in ids:
            if ids.count(rid) > 1:
                raise ValueError(f"rule id {rid!r} is used twice")
        return self


def load_rules(path: Path | None = None) -> list[Rule]:
    path = path or config_dir() / "alerts.yaml"
    data = load_yaml(path)
    try:
        return RulesFile.model_validate(data).rules
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, str(path), data)) from None


class Source(BaseModel):
    """One outlet's report of the event."""

    article_id: str
    source: str
    title: str
    url: str | None
    published: str
    sentence: str
    trigger: str
    status: str | None = None
    instrument: str | None = None
    concepts: list[str] = Field(default_factory=list)


class AlertRecord(BaseModel):
    """One alert: a new story (or, for digests, an update to one) and its delivery state."""

    id: str
    rule: str
    delivery: Literal["immediate", "digest"]
    update: bool = False
    type: str
    parties: list[str]
    dyad: str
    sources: list[Source]
    created_at: datetime
    status: Literal["pending", "sent"] = "pending"
    message_id: str
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    delivered_to: str | None = None
    digest_id: str | None = None


@dataclass
class AlertRun:
    """What one evaluation and delivery did."""

    created: int = 0
    updates: int = 0
    sent: int = 0
    failed: int = 0
    digests_sent: int = 0
    errors: list[str] = field(default_factory=list)


def _sid(rule: str, etype: str, dyad: str) -> str:
    return f"{rule}|{etype}|{dyad}"


def _source(article: Article, event: Event) -> Source:
    return Source(
        article_id=article.id, source=article.source, title=article.title, url=article.url,
        published=article.published_at.strftime("%Y-%m-%d %H:%M UTC"), sentence=event.sentence,
        trigger=event.trigger, status=event.status, instrument=event.instrument, concepts=article.concepts,
    )


def evaluate(store: Store, rule: Rule, now: datetime | None = None, dry_run: bool = False) -> tuple[list[AlertRecord], int]:
    """New alert records for what was indexed since the rule's watermark; returns (records, updates).

    Several reports of one story in this batch make one record; a story already alerted within the
    window gets its new sources recorded (and a digest update), never a second immediate alert.
    """
    now = now or datetime.now(UTC)
    mark = store.state_get(WATERMARK, rule.id)
    since = datetime.fromisoformat(mark["indexed_at"]) if mark else None
    articles = store.query(since=since, time_field="indexed_at", limit=None)
    window = timedelta(days=rule.story_window_days)
    batch: dict[str, list[tuple[Article, Event]]] = {}
    for article in sorted(articles, key=lambda a: (a.published_at, a.id)):
        for event in article.events:
            if rule.match.accepts(event, article):
                batch.setdefault(_sid(rule.id, event.type, event.dyad), []).append((article, event))
    records: list[AlertRecord] = []
    updates = 0
    for sid, reports in batch.items():
        for story, fresh in _stories(store.state_get(STORY, sid), reports, window):
            record = _record(rule, sid, story, fresh, now)
            records.append(record)
            updates += record.update
            if dry_run:
                continue
            if store.state_get(ALERT, record.id) is None:
                store.state_put(ALERT, record.id, record.model_dump(mode="json"))
            first_article = fresh[0][0]
            store.state_put(
                STORY,
                sid,
                {
                    "first_published": (story or {}).get("first_published") or first_article.published_at.isoformat(),
                    "first_article": (story or {}).get("first_article") or first_article.id,
                    "alert_id": (story or {}).get("alert_id") or record.id,
                    "article_ids": sorted(set((story or {}).get("article_ids", [])) | {a.id for a, _ in fresh}),
                },
            )
    if not dry_run and articles:
        newest = max(a.indexed_at for a in articles if a.indexed_at)
        store.state_put(WATERMARK, rule.id, {"indexed_at": newest.isoformat()})
    return records, updates


def _stories(
    story: dict[str, Any] | None, reports: list[tuple[Article, Event]], window: timedelta
) -> list[tuple[dict[str, Any] | None, list[tuple[Article, Event]]]]:
    """Split reports (oldest first) into (known story or None, new reports) groups: a report within
    `window` of its story's first report belongs to it; an already recorded report is a repeat."""
    groups: list[tuple[dict[str, Any] | None, list[tuple[Article, Event]]]] = []
    current_story, current = story, []
    for article, event in reports:
        if current_story and article.id in current_story["article_ids"]:
            continue
        if current_story:
            start = datetime.fromisoformat(current_story["first_published"])
        elif current:
            start = current[0][0].published_at
        else:
            start = None
        if start is not None and article.published_at - start <= window:
            current.append((article, event))
            continue
        if current:
            groups.append((current_story, current))
        current_story, current = None, [(article, event)]
    if current:
        groups.append((current_story, current))
    return groups


def _record(
    rule: Rule, sid: str, story: dict[str, Any] | None, fresh: list[tuple[Article, Event]], now: datetime
) -> AlertRecord:
    """The alert for new reports of a story: immediate for a new story of an immediate rule, else digest."""
    is_update = story is not None
    first_article, first_event = fresh[0]
    first_id = story["first_article"] if story else first_article.id
    seed = f"{sid}|{first_id}|" + ",".join(sorted(a.id for a, _ in fresh))
    return AlertRecord(
        id=hashlib.sha1(seed.encode()).hexdigest()[:16],
        rule=rule.id,
        delivery="digest" if rule.mode == "digest" or is_update else "immediate",
        update=is_update,
        type=first_event.type,
        parties=first_event.parties,
        dyad=first_event.dyad,
        sources=[_source(a, e) for a, e in fresh],
        created_at=now,
        message_id=make_msgid(domain="newswatch.local"),
    )


# Rendering ------------------------------------------------------------------------------------------


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader([str(config_dir() / "templates")]),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=False,
    )


@cache
def _concept_labels() -> dict[str, str]:
    from pipeline.taxonomy import load_taxonomy

    return {c.id: c.label for c in load_taxonomy().concepts if load_taxonomy().weight_of(c.id) > 0}


def _split(sentence: str, trigger: str) -> tuple[str, str, str]:
    at = sentence.lower().find(trigger.lower()) if trigger else -1
    if at < 0:
        return sentence + " ", trigger, ""
    return sentence[:at], sentence[at : at + len(trigger)], sentence[at + len(trigger) :]


def _item(record: AlertRecord) -> dict[str, Any]:
    first = record.sources[0]
    before, trigger, after = _split(first.sentence, first.trigger)
    labels = _concept_labels()
    concepts = sorted({labels.get(c, c) for s in record.sources for c in s.concepts})
    return {
        "country_a": country_name(record.parties[0]),
        "country_b": country_name(record.parties[1]),
        "event_label": event_label(record.type, first.status),
        "update": record.update,
        "sentence": first.sentence,
        "sentence_before": before,
        "trigger": trigger,
        "sentence_after": after,
        "concepts": concepts,
        "first_published": first.published,
        "sources": [s.model_dump() for s in record.sources],
    }


def event_label(etype: str, status: str | None) -> str:
    """"bilateral agreement"; "expected bilateral agreement" for a planned or proposed one."""
    label = EVENT_LABELS.get(etype, etype)
    return f"expected {label}" if status in ("planned", "proposed") else label


def subject_of(record: AlertRecord) -> str:
    label = event_label(record.type, record.sources[0].status)
    a, b = country_name(record.parties[0]), country_name(record.parties[1])
    prefix = "Update" if record.update else f"New {label}"
    return f"[Newswatch] {prefix}: {a} \u2013 {b}"


def render_alert(record: AlertRecord, rule: Rule) -> tuple[str, str, str]:
    """(subject, text, html) of an immediate alert."""
    env = _environment()
    context = {**_item(record), "heading": subject_of(record), "rule": rule, "alert_id": record.id}
    return subject_of(record), env.get_template("alert.txt.j2").render(context), env.get_template("alert.html.j2").render(context)


def render_digest(records: list[AlertRecord], rule: Rule, now: datetime) -> tuple[str, str, str]:
    env = _environment()
    subject = f"[Newswatch] Digest {now:%Y-%m-%d}: {len(records)} item(s) for {rule.id}"
    context = {"heading": subject, "rule": rule, "items": [_item(r) for r in records]}
    return subject, env.get_template("digest.txt.j2").render(context), env.get_template("digest.html.j2").render(context)


def render_feed_health(lines: list[str], now: datetime) -> tuple[str, str, str]:
    """The operators' feed-health report (subject, text, HTML) from its lines (feed names and errors are escaped)."""
    env = _environment()
    subject = f"[Newswatch] Feed health {now:%Y-%m-%d}: {len(lines)} issue(s)"
    context = {"heading": subject, "lines": lines}
    return (subject, env.get_template("feed-health.txt.j2").render(context),
            env.get_template("feed-health.html.j2").render(context))


def build_message(subject: str, text: str, html: str, recipients: list[str], smtp: SmtpSettings,
                  message_id: str, now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = smtp.from_addr
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


# Delivery -------------------------------------------------------------------------------------------


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

    def send(self, message: EmailMessage, key: str, commit: Callable[[str], None] | None = None) -> str:
        """Deliver one message; returns where it went. Raises smtplib/OS/SSL errors.

        `commit(where)` records the message as sent at the last moment the delivery can still be undone: over
        SMTP, once the whole message is transmitted and before the end-of-data line that lets the server accept
        it. A process killed before the commit leaves the server with an unfinished message, which it drops, and
        the record pending; so a crash can never make the server receive a message twice. If the server then
        refuses the finished message, the error is raised after the commit and the caller records it as not sent."""
        commit = commit or (lambda where: None)
        if not self.smtp.host:
            self.outbox.mkdir(parents=True, exist_ok=True)
            path = self.outbox / f"{key}.eml"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(bytes(message))
            tmp.replace(path)  # atomic, and a rerun writes the same file again
            commit(str(path))
            return str(path)
        if self.relay_error:
            raise RelayUnavailable(f"not tried, the relay failed earlier in this run ({self.relay_error})")
        where = f"{self.smtp.host}:{self.smtp.effective_port}"
        try:
            client = self._client or self._connect()
            _transmit(client, message, lambda: commit(where))
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


def _transmit(client: smtplib.SMTP, message: EmailMessage, commit: Callable[[], None]) -> None:
    """MAIL, RCPT and DATA as smtplib's send_message does them, with `commit` called between the message and
    its end-of-data line (smtplib sends both in one call)."""
    sender = parseaddr(message["From"])[1]
    recipients = [address for _, address in getaddresses(message.get_all("To", []) + message.get_all("Cc", []))]
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
    commit()
    client.send(b".\r\n")
    code, reply = client.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


def _records(store: Store, status: str | None = None) -> list[AlertRecord]:
    records = [AlertRecord.model_validate(v) for v in store.state_items(ALERT).values()]
    return sorted((r for r in records if status is None or r.status == status), key=lambda r: (r.created_at, r.id))


def list_alerts(store: Store, status: str | None = None) -> list[AlertRecord]:
    return _records(store, status)


def _mark(store: Store, record: AlertRecord, **changes: Any) -> None:
    updated = record.model_copy(update=changes)
    store.state_put(ALERT, record.id, updated.model_dump(mode="json"))


def _not_sent(store: Store, records: list[AlertRecord], exc: BaseException, run: AlertRun, label: str) -> None:
    """Keep the records pending with the reason; a message that was not even tried does not count as an attempt."""
    reason = f"{type(exc).__name__}: {exc}"
    tried = 0 if isinstance(exc, RelayUnavailable) else 1
    run.failed += 1
    run.errors.append(f"{label}: {reason}")
    for record in records:
        _mark(store, record, attempts=record.attempts + tried, last_error=reason)


def deliver(store: Store, rules: dict[str, Rule], mailer: Mailer, smtp: SmtpSettings, run: AlertRun,
            now: datetime) -> None:
    """Send every pending immediate alert; a failure leaves it pending with the reason, for the next run."""
    for record in _records(store, "pending"):
        if record.delivery != "immediate" or record.rule not in rules:
            continue
        rule = rules[record.rule]
        subject, text, html = render_alert(record, rule)
        message = build_message(subject, text, html, rule.recipients, smtp, record.message_id, now)
        def sent(where: str, record: AlertRecord = record) -> None:
            _mark(store, record, status="sent", sent_at=now, attempts=record.attempts + 1, last_error=None,
                  delivered_to=where)

        try:
            mailer.send(message, record.id, commit=sent)
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            _not_sent(store, [record], exc, run, record.id)  # also undoes `sent` if the server refused at the end
            continue
        run.sent += 1


def send_digests(store: Store, rules: dict[str, Rule], mailer: Mailer, smtp: SmtpSettings, run: AlertRun,
                 now: datetime) -> None:
    """One email per rule with every pending digest item (digest rules' stories, and updates)."""
    pending = [r for r in _records(store, "pending") if r.delivery == "digest" and r.rule in rules]
    for rule_id in sorted({r.rule for r in pending}):
        items = [r for r in pending if r.rule == rule_id]
        rule = rules[rule_id]
        digest_id = hashlib.sha1(",".join(r.id for r in items).encode()).hexdigest()[:16]
        subject, text, html = render_digest(items, rule, now)
        message = build_message(subject, text, html, rule.recipients, smtp,
                                make_msgid(idstring=digest_id, domain="newswatch.local"), now)
        def sent(where: str, items: list[AlertRecord] = items, digest_id: str = digest_id) -> None:
            for record in items:
                _mark(store, record, status="sent", sent_at=now, delivered_to=where, digest_id=digest_id,
                      attempts=record.attempts + 1, last_error=None)

        try:
            mailer.send(message, f"digest-{digest_id}", commit=sent)
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            _not_sent(store, items, exc, run, f"digest {rule_id}")
            continue
        run.digests_sent += 1


def run_alerts(store: Store, settings: Settings, *, digest: bool = False, rules: Iterable[Rule] | None = None,
               now: datetime | None = None) -> AlertRun:
    """Evaluate every enabled rule, then deliver pending immediate alerts (and digests when asked)."""
    now = now or datetime.now(UTC)
    active = {r.id: r for r in (rules if rules is not None else load_rules()) if r.enabled}
    run = AlertRun()
    for rule in active.values():
        records, updates = evaluate(store, rule, now)
        run.created += len(records) - updates
        run.updates += updates
    with closing(Mailer(settings.smtp, settings.outbox_dir)) as mailer:
        deliver(store, active, mailer, settings.smtp, run, now)
        if digest:
            send_digests(store, active, mailer, settings.smtp, run, now)
    return run
