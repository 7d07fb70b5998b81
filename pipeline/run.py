"""One pass of the pipeline: fetch -> normalise -> dedup -> full text -> tag -> store -> alerts.

The pass never prints; it reports progress through a :class:`Reporter` and returns a
:class:`RunSummary`. Tagging and alerting are stages passed in by the caller, so that the
CLI, a DAG task and a test all run the very same code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pipeline.config import FeedConfig, Settings
from pipeline.deadletter import DeadLetters
from pipeline.duplicates import link_copies
from pipeline.extract import enrich_fulltext, wants_fulltext
from pipeline.feeds import STATE_NAMESPACE, FeedState, FetchResult, poll_feeds
from pipeline.models import Article
from pipeline.normalise import drop_duplicates, normalise_entry
from pipeline.stores.base import Store

TagStage = Callable[[Iterable[Article]], Iterable[Article]]


class Reporter(Protocol):
    """Progress hooks; the CLI draws bars with them, everyone else may ignore them."""

    def stage(self, name: str, total: int | None) -> None: ...

    def advance(self, name: str, n: int = 1) -> None: ...

    def feed_done(self, result: FetchResult) -> None: ...


class NullReporter:
    def stage(self, name: str, total: int | None) -> None:
        pass

    def advance(self, name: str, n: int = 1) -> None:
        pass

    def feed_done(self, result: FetchResult) -> None:
        pass


@dataclass
class RunSummary:
    """What one pass did, in numbers, plus the failing feeds and their reasons."""

    feeds_ok: int = 0
    feeds_not_modified: int = 0
    feeds_failed: int = 0
    feeds_skipped: int = 0
    feeds_disabled: int = 0
    entries: int = 0
    entry_errors: int = 0
    duplicates: int = 0
    already_seen: int = 0
    new_articles: int = 0
    changed_articles: int = 0
    copies: int = 0  # near-duplicates of an earlier article under another URL (linked, still stored)
    fulltext_extracted: int = 0
    fulltext_failed: int = 0
    tagged: int = 0
    stored: int = 0
    events_stored: int = 0
    store_errors: int = 0
    seconds: float = 0.0
    failed_feeds: dict[str, str] = field(default_factory=dict)
    stored_ids: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("stored_ids")
        return data


def load_feed_states(store: Store, feed_ids: Iterable[str] | None = None) -> dict[str, FeedState]:
    """Every feed's saved state, or only these feeds'."""
    items = store.state_items(STATE_NAMESPACE)
    wanted = items.keys() if feed_ids is None else set(feed_ids) & items.keys()
    return {key: FeedState.model_validate(items[key]) for key in wanted}


def run_pass(
    settings: Settings,
    feeds: list[FeedConfig],
    store: Store,
    *,
    tag: TagStage | None = None,
    reporter: Reporter | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> RunSummary:
    """Run one pass over `feeds` into `store`; per-feed and per-article failures are recorded, not raised.

    Feeds go through the stages `settings.chunk_feeds` at a time (fetched, normalised, tagged and stored
    together), so that a pass over many feeds holds one chunk of articles in memory, not all of them.
    """
    started = time.monotonic()
    reporter = reporter or NullReporter()
    summary = RunSummary()
    dead = DeadLetters(settings.deadletter_dir)
    now = now or datetime.now(UTC)
    seen_in_pass: set[str] = set()
    reporter.stage("fetch", len(feeds))
    for start in range(0, len(feeds), settings.chunk_feeds):
        _run_chunk(
            settings,
            feeds[start : start + settings.chunk_feeds],
            store,
            tag,
            reporter,
            force,
            now,
            dead,
            summary,
            seen_in_pass,
        )
    summary.seconds = time.monotonic() - started
    return summary


def _run_chunk(
    settings: Settings,
    feeds: list[FeedConfig],
    store: Store,
    tag: TagStage | None,
    reporter: Reporter,
    force: bool,
    now: datetime,
    dead: DeadLetters,
    summary: RunSummary,
    seen_in_pass: set[str],
) -> None:
    """fetch -> normalise -> dedup -> full text -> link copies -> tag -> store for some feeds, adding to
    `summary`."""

    def on_feed(result: FetchResult) -> None:
        reporter.advance("fetch")
        reporter.feed_done(result)

    results = poll_feeds(
        feeds, load_feed_states(store, [f.id for f in feeds]), settings, force=force, now=now, on_result=on_feed
    )
    _count_feeds(summary, results)

    counter: dict[str, int] = {}
    candidates = list(drop_duplicates(_normalise(results, settings, dead, summary), counter, seen=seen_in_pass))
    summary.duplicates += counter.get("duplicates", 0)
    known = store.seen(a.id for a in candidates)
    fresh = [a for a in candidates if known.get(a.id) != a.content_hash and not _copy_of_other_feed(store, a, known)]
    summary.already_seen += len(candidates) - len(fresh)  # includes other feeds' copies of a stored story
    changed = sum(1 for a in fresh if a.id in known)
    summary.changed_articles += changed
    summary.new_articles += len(fresh) - changed
    del candidates

    _fulltext(settings, feeds, fresh, reporter, summary)
    summary.copies += link_copies(fresh, store, settings.duplicates)

    reporter.stage("tag", len(fresh))
    reporter.stage("store", len(fresh))
    failed_feeds, with_new = _store(store, _tagged(fresh, tag, reporter, summary), known, dead, reporter, summary)
    del fresh
    save_feed_states(store, results, failed_feeds=failed_feeds, feeds_with_new=with_new, now=now)


def _copy_of_other_feed(store: Store, article: Article, known: dict[str, str]) -> bool:
    """A stored story arriving from another feed with other text (a summary, a wire copy) is a
    duplicate, not a change: only the feed that published it can change it."""
    if article.id not in known:
        return False
    stored = store.get(article.id)
    return stored is not None and stored.feed_id != article.feed_id


def _count_feeds(summary: RunSummary, results: list[FetchResult]) -> None:
    for result in results:
        match result.status:
            case "ok":
                summary.feeds_ok += 1
            case "not_modified":
                summary.feeds_not_modified += 1
            case "failed":
                summary.feeds_failed += 1
                summary.failed_feeds[result.feed.id] = result.error or "unknown error"
            case "skipped":
                summary.feeds_skipped += 1
            case "disabled":
                summary.feeds_disabled += 1


def _normalise(
    results: list[FetchResult], settings: Settings, dead: DeadLetters, summary: RunSummary
) -> Iterator[Article]:
    """Articles from every fetched entry; an entry that cannot be normalised is dead-lettered."""
    tolerance = timedelta(seconds=settings.health.future_date_tolerance_seconds)
    for result in results:
        for entry in result.entries:
            summary.entries += 1
            try:
                yield normalise_entry(
                    entry,
                    feed_id=result.feed.id,
                    source=result.feed.name,
                    language=result.feed.language,
                    fetched_at=result.fetched_at,
                    future_tolerance=tolerance,
                    speaks_for=result.feed.speaks_for,
                    demo_recent_as_of=result.feed.demo_recent_as_of,
                )
            except Exception as exc:  # one broken entry never stops the run
                summary.entry_errors += 1
                dead.add("normalise", f"{type(exc).__name__}: {exc}", result.feed.id, dict(entry))


def _fulltext(
    settings: Settings, feeds: list[FeedConfig], articles: list[Article], reporter: Reporter, summary: RunSummary
) -> None:
    by_id = {f.id: f for f in feeds}
    wanted = [
        a for a in articles if a.feed_id in by_id and wants_fulltext(a, by_id[a.feed_id], settings.fulltext.min_chars)
    ]
    if not wanted:
        return
    reporter.stage("full text", len(wanted))
    enrich_fulltext(wanted, by_id, settings, on_done=lambda a: reporter.advance("full text"))
    summary.fulltext_extracted = sum(1 for a in wanted if a.text_source == "extracted")
    summary.fulltext_failed = len(wanted) - summary.fulltext_extracted


def _tagged(
    articles: list[Article], tag: TagStage | None, reporter: Reporter, summary: RunSummary
) -> Iterator[Article]:
    stream: Iterable[Article] = tag(articles) if tag else articles
    for article in stream:
        if tag:
            summary.tagged += 1
        reporter.advance("tag")
        yield article


def _store(
    store: Store,
    articles: Iterable[Article],
    known: dict[str, str],
    dead: DeadLetters,
    reporter: Reporter,
    summary: RunSummary,
) -> tuple[set[str], set[str]]:
    """Upsert as they come; a rejected document is dead-lettered with its reason.
    Returns the feeds with a rejected document and the feeds with a newly stored one."""
    pending: dict[str, Article] = {}

    def remembered(stream: Iterable[Article]) -> Iterator[Article]:
        for article in stream:
            pending[article.id] = article
            yield article

    failed_feeds: set[str] = set()
    with_new: set[str] = set()
    for result in store.upsert(remembered(articles), known=known):
        reporter.advance("store")
        article = pending.pop(result.id)
        if result.ok:
            if result.action != "unchanged":
                summary.stored += 1
                summary.events_stored += len(article.events)
                summary.stored_ids.append(result.id)
                with_new.add(article.feed_id)
            continue
        summary.store_errors += 1
        failed_feeds.add(article.feed_id)
        dead.add("store", result.error or "rejected", result.id, article.to_doc())
    return failed_feeds, with_new


def save_feed_states(
    store: Store,
    results: list[FetchResult],
    *,
    advance_validators: bool = True,
    failed_feeds: Iterable[str] = (),
    feeds_with_new: Iterable[str] = (),
    now: datetime | None = None,
) -> None:
    """Persist each polled feed's health, and its new HTTP validators only when `advance_validators`
    and every article of the feed was stored (otherwise the next poll fetches the feed again)."""
    failed, with_new = set(failed_feeds), set(feeds_with_new)
    for result in results:
        if result.status in ("skipped", "disabled"):
            continue  # not polled: nothing about the feed changed
        state = result.state
        if not advance_validators or result.feed.id in failed:
            old = store.state_get(STATE_NAMESPACE, result.feed.id) or {}
            state = state.model_copy(update={"etag": old.get("etag"), "last_modified": old.get("last_modified")})
        if result.feed.id in with_new:
            state = state.model_copy(update={"last_new_articles_at": now or result.fetched_at})
        store.state_put(STATE_NAMESPACE, result.feed.id, state.model_dump(mode="json"))
