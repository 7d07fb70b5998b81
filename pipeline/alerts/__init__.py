"""Alerts: rules over new events (config/alerts.yaml), stories, Jinja2 emails, idempotent delivery.

rules    which events a rule accepts, loaded from config/alerts.yaml
stories  reports of one event grouped into a story; the alert record of a story (pure)
render   subject, text and HTML of alerts, digests and the feed-health report
mail     SMTP or outbox delivery with its crash-safe commit point
records  the alert records in the store: list, get, save
ledger   the job over a store: run a rule, record, deliver
actions  what analysts do: acknowledge, false positive, reopen, mute for N days, export their judgements
"""

from pipeline.alerts.ledger import AlertRun, run_alerts, run_rule, settle_wait
from pipeline.alerts.mail import Mailer
from pipeline.alerts.records import list_alerts
from pipeline.alerts.render import build_message, render_alert, render_digest, render_feed_health, subject_of
from pipeline.alerts.rules import Match, Rule, load_rules
from pipeline.alerts.stories import AlertRecord, Source

__all__ = [
    "AlertRecord",
    "AlertRun",
    "Mailer",
    "Match",
    "Rule",
    "Source",
    "build_message",
    "list_alerts",
    "load_rules",
    "render_alert",
    "render_digest",
    "render_feed_health",
    "run_alerts",
    "run_rule",
    "settle_wait",
    "subject_of",
]
