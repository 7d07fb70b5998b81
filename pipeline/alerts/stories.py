"""Stories: reports of one happening (same rule and country pair, whatever frame each outlet gave it: the
talks of one, the MoU signed at them of another) within a window make one story, and a new story or new
reports of a known one make an alert record, led by the strongest frame. Pure functions: the store is read and written
only by `pipeline.alerts.ledger` and `pipeline.alerts.actions`."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any, Literal

from pydantic import BaseModel, Field

from pipeline.alerts.rules import Rule
from pipeline.models import EVENT_TYPES, NEW_STATUSES, Article, Event

Report = tuple[Article, Event]


class Source(BaseModel):
    """One outlet's report of the event."""

    article_id: str
    source: str
    title: str
    url: str | None
    published: str
    sentence: str
    trigger: str
    type: str | None = None
    status: str | None = None
    instrument: str | None = None
    concepts: list[str] = Field(default_factory=list)


class Action(BaseModel):
    """One analyst action (pipeline.alerts.actions), as recorded on the alert and in the action log."""

    action: str
    target: str
    by: str
    at: datetime
    note: str | None = None
    until: datetime | None = None


class AlertRecord(BaseModel):
    """One alert: a new story (or, for digests, an update to one) and its delivery state."""

    id: str
    rule: str
    delivery: Literal["immediate", "digest"]
    update: bool = False
    late: bool = False  # the story's first report was older than the rule's max_age_days when indexed
    type: str
    parties: list[str]
    dyad: str
    sources: list[Source]
    created_at: datetime
    status: Literal["pending", "sent", "muted"] = "pending"
    message_id: str
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    delivered_to: str | None = None
    digest_id: str | None = None
    refused: dict[str, str] = Field(default_factory=dict)  # recipients the relay refused: retried, same Message-ID
    review: Literal["open", "acknowledged", "false_positive"] = "open"  # the analysts' judgement
    actions: list[Action] = Field(default_factory=list)  # who did what to it, when


def story_id(rule: str, dyad: str) -> str:
    return f"{rule}|{dyad}"


def matching_reports(rule: Rule, articles: list[Article]) -> dict[str, list[Report]]:
    """The events the rule accepts, oldest article first, grouped by story id (rule and country pair)."""
    batch: dict[str, list[Report]] = {}
    for article in sorted(articles, key=lambda a: (a.published_at, a.id)):
        for event in article.events:
            if rule.match.accepts(event, article):
                batch.setdefault(story_id(rule.id, event.dyad), []).append((article, event))
    return batch


def strength(report: Report) -> tuple[bool, int, float]:
    """How strongly a report's frame stands for the happening: done before expected, then the type listed first
    (an agreement before a dialogue), then confidence."""
    event = report[1]
    return event.status in NEW_STATUSES, -EVENT_TYPES.index(event.type), event.confidence


def split_stories(
    story: dict[str, Any] | None, reports: list[Report], window: timedelta
) -> list[tuple[dict[str, Any] | None, list[Report]]]:
    """Split reports (oldest first) into (known story or None, new reports) groups: a report within
    `window` of its story's first report belongs to it; an already recorded report is a repeat."""
    groups: list[tuple[dict[str, Any] | None, list[Report]]] = []
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


def reported_late(article: Article, max_age: timedelta, now: datetime) -> bool:
    """True when the article was published longer than `max_age` before it was indexed (before `now` when the
    store has not stamped it)."""
    return (article.indexed_at or now) - article.published_at > max_age


def source_of(article: Article, event: Event) -> Source:
    return Source(
        article_id=article.id,
        source=article.source,
        title=article.title,
        url=article.url,
        published=article.published_at.strftime("%Y-%m-%d %H:%M UTC"),
        sentence=event.sentence,
        trigger=event.trigger,
        type=event.type,
        status=event.status,
        instrument=event.instrument,
        concepts=article.concepts,
    )


def new_record(rule: Rule, sid: str, story: dict[str, Any] | None, fresh: list[Report], now: datetime) -> AlertRecord:
    """The alert for new reports of a story: immediate for a new story of an immediate rule, else digest. A new
    story whose first report was already older than the rule's `max_age_days` when indexed is old news: a digest
    item marked late."""
    is_update = story is not None
    first_article = fresh[0][0]
    lead = max(fresh, key=strength)  # the strongest frame leads; every source follows
    fresh = [lead, *(r for r in fresh if r is not lead)]
    late = not is_update and reported_late(first_article, timedelta(days=rule.max_age_days), now)
    first_id = story["first_article"] if story else first_article.id
    seed = f"{sid}|{first_id}|" + ",".join(sorted(a.id for a, _ in fresh))
    return AlertRecord(
        id=hashlib.sha1(seed.encode()).hexdigest()[:16],
        rule=rule.id,
        delivery="digest" if rule.mode == "digest" or is_update or late else "immediate",
        update=is_update,
        late=late,
        type=lead[1].type,
        parties=lead[1].parties,
        dyad=lead[1].dyad,
        sources=[source_of(a, e) for a, e in fresh],
        created_at=now,
        message_id=make_msgid(domain="newswatch.local"),
    )


def next_story(story: dict[str, Any] | None, fresh: list[Report], record: AlertRecord) -> dict[str, Any]:
    """The story's stored state once `fresh` reports (alerted by `record`) are added to it."""
    story = story or {}
    first_article = fresh[0][0]
    return {
        "first_published": story.get("first_published") or first_article.published_at.isoformat(),
        "first_article": story.get("first_article") or first_article.id,
        "alert_id": story.get("alert_id") or record.id,
        "article_ids": sorted(set(story.get("article_ids", [])) | {a.id for a, _ in fresh}),
    }
