"""What analysts do with alerts: review them (acknowledge, mark a false positive, reopen), mute a country pair
or a story for some days, and export their judgements as labelled items for the next evaluation.

State kept in the store, next to the ledger's:
  alert/<alert id>              the record: its `review` and every action on it (who, when, note)
  alert_mute/<dyad|story id>    an active mute: who, when, until (it lapses by itself at `until`)
  alert_action/<when>-<n>       the log of every action, mutes and unmutes included
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from pydantic import BaseModel

from pipeline.alerts.records import get_alert, list_alerts, save
from pipeline.alerts.stories import Action, AlertRecord, story_id
from pipeline.corpus import UNCHECKED_LICENCE, FeedbackItem
from pipeline.models import ALERT_TYPES, LISTED_STATUSES, NEW_STATUSES
from pipeline.stores.base import Store

MUTE, LOG = "alert_mute", "alert_action"
REVIEWS: dict[str, str] = {"ack": "acknowledged", "false-positive": "false_positive", "reopen": "open"}
DYAD = re.compile(r"^[A-Z]{2}-[A-Z]{2}$")


class ActionError(ValueError):
    """An action that cannot be applied (unknown alert, malformed target); the message says why."""


class Mute(BaseModel):
    """A mute of a country pair ("MY-TH") or of one rule's story of it ("bilateral-agreements|MY-TH")."""

    target: str
    by: str
    at: datetime
    until: datetime
    note: str | None = None

    def active(self, now: datetime) -> bool:
        return self.at <= now < self.until


def _log(store: Store, action: Action) -> None:
    store.state_put(LOG, f"{action.at.isoformat()}-{uuid.uuid4().hex[:8]}", action.model_dump(mode="json"))


def find_alert(store: Store, alert_id: str) -> AlertRecord:
    """The alert with this id, or with this unique id prefix (as `newswatch alerts list` shows them)."""
    exact = get_alert(store, alert_id)
    if exact is not None:
        return exact
    found = [r for r in list_alerts(store) if r.id.startswith(alert_id)] if len(alert_id) >= 4 else []
    if len(found) != 1:
        raise ActionError(f"no alert {alert_id!r}" if not found else f"{alert_id!r} names {len(found)} alerts")
    return found[0]


def review(store: Store, alert_id: str, verb: str, by: str, now: datetime, note: str | None = None) -> AlertRecord:
    """Apply `verb` (ack, false-positive, reopen) to an alert; recorded on it and in the log."""
    if verb not in REVIEWS:
        raise ActionError(f"unknown review {verb!r}; one of {', '.join(REVIEWS)}")
    record = find_alert(store, alert_id)
    action = Action(action=verb, target=record.id, by=by, at=now, note=note)
    record = save(store, record, review=REVIEWS[verb], actions=[*record.actions, action])
    _log(store, action)
    return record


def mute_target(store: Store, target: str) -> str:
    """A country pair ("PK-US", either order) or an alert id whose story is meant, as the mute's key."""
    pair = target.upper()
    if DYAD.match(pair):
        return "-".join(sorted(pair.split("-")))
    record = find_alert(store, target)
    return story_id(record.rule, record.dyad)


def mute(store: Store, target: str, days: float, by: str, now: datetime, note: str | None = None) -> Mute:
    """Mute a country pair or an alert's story for `days`; it lapses by itself."""
    if days <= 0:
        raise ActionError("a mute lasts a positive number of days")
    key = mute_target(store, target)
    entry = Mute(target=key, by=by, at=now, until=now + timedelta(days=days), note=note)
    store.state_put(MUTE, key, entry.model_dump(mode="json"))
    _log(store, Action(action="mute", target=key, by=by, at=now, note=note, until=entry.until))
    return entry


def unmute(store: Store, target: str, by: str, now: datetime, note: str | None = None) -> str:
    key = mute_target(store, target)
    if store.state_get(MUTE, key) is None:
        raise ActionError(f"{key} is not muted")
    store.state_delete(MUTE, key)
    _log(store, Action(action="unmute", target=key, by=by, at=now, note=note))
    return key


def active_mutes(store: Store, now: datetime) -> dict[str, Mute]:
    mutes = (Mute.model_validate(v) for v in store.state_items(MUTE).values())
    return {m.target: m for m in mutes if m.active(now)}


def hold_muted(store: Store, now: datetime) -> int:
    """Pending alerts of a muted pair or story are recorded as muted and never sent; returns how many. A mute
    that has lapsed holds nothing: later alerts of that pair go out again."""
    mutes = active_mutes(store, now)
    held = 0
    for record in list_alerts(store, "pending"):
        mute_ = mutes.get(record.dyad) or mutes.get(story_id(record.rule, record.dyad))
        if mute_ is None:
            continue
        reason = f"muted by {mute_.by} until {mute_.until:%Y-%m-%d %H:%M} UTC"
        save(store, record, status="muted", last_error=reason)
        held += 1
    return held


def actions_log(store: Store) -> list[Action]:
    return sorted((Action.model_validate(v) for v in store.state_items(LOG).values()), key=lambda a: a.at)


def feedback_items(store: Store) -> list[FeedbackItem]:
    """The alerts analysts acknowledged (confirmed) or marked false positive, as labelled items in the corpus
    format (docs/labelling.md): the lead source's title and sentence, its frame as the label when confirmed,
    no event when false. Their licence is left unchecked: someone checks the source's terms before
    `newswatch corpus add` takes them."""
    items = []
    for record in list_alerts(store):
        judged = [a for a in record.actions if a.action in ("ack", "false-positive")]
        if record.review == "open" or not judged or not record.sources[0].url:
            continue
        lead, last = record.sources[0], judged[-1]
        confirmed = record.review == "acknowledged"
        events = (
            [
                {
                    "type": record.type,
                    "parties": record.parties,
                    "status": lead.status,
                    "instrument": lead.instrument,
                    "ct_relevant": True,
                }
            ]
            if confirmed and lead.status in LISTED_STATUSES
            else []
        )
        items.append(
            FeedbackItem(
                id=f"feedback-{record.id}",
                url=lead.url,
                source=lead.source,
                licence=UNCHECKED_LICENCE,
                published=lead.published[:10],
                title=lead.title,
                text=lead.sentence,
                kind=record.type if confirmed else "other",
                alert=confirmed and record.type in ALERT_TYPES and lead.status in NEW_STATUSES,
                events=events,
                note=f"{last.action} by {last.by} on {last.at:%Y-%m-%d}" + (f": {last.note}" if last.note else ""),
            )
        )
    return items
