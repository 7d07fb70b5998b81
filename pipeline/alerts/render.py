"""Emails from alert records: Jinja2 templates in config/templates (text and HTML parts)."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from pipeline.alerts.rules import Rule
from pipeline.alerts.stories import AlertRecord
from pipeline.config import SmtpSettings, config_dir
from pipeline.countries import country_name
from pipeline.event_rules import load_event_rules


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader([str(config_dir() / "templates")]),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=False,
    )


@cache
def concept_labels() -> dict[str, str]:
    """Readable labels of the taxonomy's weighted concepts (the taxonomy is loaded once per process)."""
    from pipeline.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    return {c.id: c.label for c in taxonomy.concepts if taxonomy.weight_of(c.id) > 0}


def _split(sentence: str, trigger: str) -> tuple[str, str, str]:
    at = sentence.lower().find(trigger.lower()) if trigger else -1
    if at < 0:
        return sentence + " ", trigger, ""
    return sentence[:at], sentence[at : at + len(trigger)], sentence[at + len(trigger) :]


ALERTS_DASHBOARD = "newswatch-alerts-feeds"  # config/kibana/newswatch.ndjson


def story_link(kibana_url: str | None, alert_id: str) -> str | None:
    """The "Alerts and feeds" dashboard in Kibana showing this alert and its sources, when Kibana's public URL
    is known."""
    if not kibana_url:
        return None
    return (
        f"{kibana_url.rstrip('/')}/app/dashboards#/view/{ALERTS_DASHBOARD}"
        f"?_g=(time:(from:now-90d,to:now))&_a=(query:(language:kuery,query:'id:{alert_id}'))"
    )


def _item(record: AlertRecord, kibana_url: str | None = None) -> dict[str, Any]:
    first = record.sources[0]
    before, trigger, after = _split(first.sentence, first.trigger)
    labels = concept_labels()
    concepts = sorted({labels.get(c, c) for s in record.sources for c in s.concepts})
    return {
        "country_a": country_name(record.parties[0]),
        "country_b": country_name(record.parties[1]),
        "event_label": event_label(record.type, first.status),
        "is_update": record.update,  # not "update": Jinja2 would find the dict's method of that name first
        "is_late": record.late,
        "sentence": first.sentence,
        "sentence_before": before,
        "trigger": trigger,
        "sentence_after": after,
        "concepts": concepts,
        "first_published": first.published,
        "sources": [s.model_dump() for s in record.sources],
        "kibana_link": story_link(kibana_url, record.id),
    }


@cache
def _type_labels() -> dict[str, str]:
    return {name: etype.label for name, etype in load_event_rules().types.items()}


def event_label(etype: str, status: str | None) -> str:
    """The type's label in config/events.yaml ("bilateral agreement"); "expected bilateral agreement" for a
    planned or proposed one."""
    label = _type_labels().get(etype, etype)
    return f"expected {label}" if status in ("planned", "proposed") else label


def subject_of(record: AlertRecord) -> str:
    label = event_label(record.type, record.sources[0].status)
    a, b = country_name(record.parties[0]), country_name(record.parties[1])
    prefix = "Update" if record.update else f"New {label}"
    return f"[Newswatch] {prefix}: {a} \u2013 {b}"


def render_alert(record: AlertRecord, rule: Rule, kibana_url: str | None = None) -> tuple[str, str, str]:
    """(subject, text, html) of an immediate alert; with `kibana_url`, it links to the story in Kibana."""
    env = _environment()
    context = {**_item(record, kibana_url), "heading": subject_of(record), "rule": rule, "alert_id": record.id}
    return (
        subject_of(record),
        env.get_template("alert.txt.j2").render(context),
        env.get_template("alert.html.j2").render(context),
    )


def render_digest(
    records: list[AlertRecord], rule: Rule, now: datetime, kibana_url: str | None = None
) -> tuple[str, str, str]:
    """(subject, text, html) of one rule's digest of `records`; with `kibana_url`, each item links to Kibana."""
    env = _environment()
    subject = f"[Newswatch] Digest {now:%Y-%m-%d}: {len(records)} item(s) for {rule.id}"
    context = {"heading": subject, "rule": rule, "items": [_item(r, kibana_url) for r in records]}
    return (
        subject,
        env.get_template("digest.txt.j2").render(context),
        env.get_template("digest.html.j2").render(context),
    )


def render_feed_health(lines: list[str], now: datetime) -> tuple[str, str, str]:
    """The operators' feed-health report (subject, text, HTML) from its lines (feed names and errors are escaped)."""
    env = _environment()
    subject = f"[Newswatch] Feed health {now:%Y-%m-%d}: {len(lines)} issue(s)"
    context = {"heading": subject, "lines": lines}
    return (
        subject,
        env.get_template("feed-health.txt.j2").render(context),
        env.get_template("feed-health.html.j2").render(context),
    )


def build_message(
    subject: str, text: str, html: str, recipients: list[str], smtp: SmtpSettings, message_id: str, now: datetime
) -> EmailMessage:
    """A multipart/alternative email (text, then HTML) from the configured sender."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = smtp.from_addr
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message
