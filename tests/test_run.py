"""One pass end to end on a real feed server and a real SQLite store."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from pipeline import run as run_module
from pipeline.config import FeedConfig, Settings
from pipeline.deadletter import DeadLetters
from pipeline.feeds import STATE_NAMESPACE
from pipeline.models import Article
from pipeline.run import run_pass
from pipeline.stores import Store, UpsertResult
from tests.conftest import SAMPLES
from tests.feedserver import FeedServer
from tests.helpers import demo_feeds


def test_pass_stores_everything_once_and_rerun_stores_nothing(
    settings: Settings, feed_server: FeedServer, store: Store
) -> None:
    first = run_pass(settings, demo_feeds(feed_server), store)
    assert first.feeds_ok == 5 and first.feeds_failed == 0
    assert first.entries == 28 and first.duplicates == 1
    assert first.new_articles == first.stored == 27 == store.count()
    seeds = {a.title for a in store.query(limit=None)}
    assert "68 Nations Meet in Washington, Vow to Wipe Out Islamic State" in seeds
    assert "Cooperation emphasised: Pak-US antiterrorism dialogue concludes" in seeds
    second = run_pass(settings, demo_feeds(feed_server), store)
    assert second.feeds_not_modified == 5 and second.stored == 0 and store.count() == 27
    # Even when the server cannot answer 304 (validators lost), seen ids are not re-processed.
    for key in store.state_items(STATE_NAMESPACE):
        store.state_delete(STATE_NAMESPACE, key)
    third = run_pass(settings, demo_feeds(feed_server), store)
    assert third.feeds_ok == 5 and third.already_seen == 27 and third.stored == 0


def test_a_pass_in_small_chunks_stores_what_one_chunk_stores(
    settings: Settings, feed_server: FeedServer, store: Store
) -> None:
    """Feeds go through the stages a chunk at a time (memory stays bounded); duplicates across chunks are
    still caught."""
    chunked = run_pass(settings.model_copy(update={"chunk_feeds": 2}), demo_feeds(feed_server), store)
    assert (chunked.feeds_ok, chunked.entries, chunked.duplicates, chunked.stored) == (5, 28, 1, 27)
    assert store.count() == 27 and len(chunked.stored_ids) == 27


def test_feeds_in_separate_passes_store_what_one_pass_stores(
    settings: Settings, feed_server: FeedServer, store: Store
) -> None:
    """As the Airflow DAG's mapped batches do: a story already stored from another feed (with other text) is a
    duplicate, not a change, whichever batch runs first."""
    feeds = demo_feeds(feed_server)
    passes = [run_pass(settings, [feed], store) for feed in reversed(feeds)]
    assert sum(p.stored for p in passes) == 27 == store.count()
    assert sum(p.already_seen for p in passes) == 1 and sum(p.changed_articles for p in passes) == 0


def test_changed_content_is_reprocessed(settings: Settings, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    shutil.copy(SAMPLES / "brecorder.rss.xml", path)
    feeds = [FeedConfig(id="br", name="BR", url=str(path))]
    assert run_pass(settings, feeds, store).stored == 6
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("gained 0.8 percent", "gained 1.1 percent"), encoding="utf-8")
    summary = run_pass(settings, feeds, store)
    assert (summary.changed_articles, summary.new_articles, summary.already_seen, summary.stored) == (1, 0, 5, 1)
    assert any("1.1 percent" in a.text for a in store.query(limit=None))


def test_failing_feed_is_recorded_and_others_land(settings: Settings, feed_server: FeedServer, store: Store) -> None:
    feeds = demo_feeds(feed_server)[:2] + [FeedConfig(id="broken", name="Broken", url=feed_server.url("/status/503"))]
    summary = run_pass(settings, feeds, store)
    assert summary.feeds_ok == 2 and summary.feeds_failed == 1
    assert "HTTP 503" in summary.failed_feeds["broken"]
    assert store.count() == 13
    health = store.state_get(STATE_NAMESPACE, "broken")
    assert health["consecutive_failures"] == 1 and health["next_poll_after"] and "503" in health["last_error"]
    assert store.state_get(STATE_NAMESPACE, "malaymail")["last_success"]


class RejectingStore:
    """Fault injection (SQLite cannot be made to refuse one chosen document on demand): wraps the real
    store and rejects the documents whose title contains `marker`, the way a store reports a rejected document."""

    def __init__(self, inner: Store, marker: str) -> None:
        self.inner, self.marker = inner, marker

    def upsert(self, articles: Iterable[Article], known=None) -> Iterator[UpsertResult]:
        for article in articles:
            if self.marker in article.title:
                yield UpsertResult(article.id, "error", "mapper_parsing_exception: injected")
            else:
                yield from self.inner.upsert([article], known=known)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_rejected_document_is_dead_lettered_and_refetched(
    settings: Settings, feed_server: FeedServer, store: Store
) -> None:
    feeds = demo_feeds(feed_server)[:1]
    summary = run_pass(settings, feeds, RejectingStore(store, "Ringgit"))  # type: ignore[arg-type]
    assert summary.store_errors == 1 and summary.stored == 6
    letters = DeadLetters(settings.deadletter_dir).read("store")
    assert (
        len(letters) == 1
        and "injected" in letters[0]["reason"]
        and letters[0]["payload"]["title"].startswith("Ringgit")
    )
    # The feed's validators were not advanced, so the next pass gets the items again and stores the missing one.
    again = run_pass(settings, feeds, store)
    assert again.feeds_ok == 1 and again.stored == 1 and again.already_seen == 6
    assert store.count() == 7


def test_broken_entry_is_dead_lettered(
    settings: Settings, feed_server: FeedServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the real normaliser handles every entry the samples have, so one is made to fail."""
    real = run_module.normalise_entry

    def flaky(entry, **kw):
        if "Palm oil" in entry.get("title", ""):
            raise ValueError("injected: cannot normalise")
        return real(entry, **kw)

    monkeypatch.setattr(run_module, "normalise_entry", flaky)
    summary = run_pass(settings, demo_feeds(feed_server)[:1], store)
    assert summary.entry_errors == 1 and summary.stored == 6
    assert DeadLetters(settings.deadletter_dir).read("normalise")[0]["reason"].startswith("ValueError: injected")


def test_tag_stage_and_the_summary_see_the_new_articles(
    settings: Settings, feed_server: FeedServer, store: Store
) -> None:
    """The tag stage sees every new article; the summary names the ids stored (what the alerts job then reads
    through its watermark, tests/test_alerts.py), and a second pass stores none."""

    def tag(articles: Iterable[Article]) -> Iterator[Article]:
        for a in articles:
            a.concepts = ["demo"] if "terror" in a.text.lower() else []
            yield a

    summary = run_pass(settings, demo_feeds(feed_server), store, tag=tag)
    assert summary.tagged == 27 and len(summary.stored_ids) == 27
    tagged = [i for i in summary.stored_ids if (a := store.get(i)) is not None and a.concepts]
    assert len(tagged) == len(store.query(concept="demo", limit=None)) > 0
    assert run_pass(settings, demo_feeds(feed_server), store, tag=tag).stored_ids == []


def test_fulltext_in_the_pass(settings: Settings, feed_server: FeedServer, store: Store) -> None:
    settings = settings.model_copy(
        update={"fulltext": settings.fulltext.model_copy(update={"allow_hosts": ["127.0.0.1"]})}
    )
    feeds = [FeedConfig(id="summ", name="S", url=feed_server.url("/summary-feed"), fulltext="auto")]
    summary = run_pass(settings, feeds, store)
    assert summary.fulltext_extracted == 2 and summary.fulltext_failed == 1 and summary.stored == 3
    assert sum(1 for a in store.query(limit=None) if a.text_source == "extracted") == 2


def test_pass_tags_and_the_store_answers_by_concept_country_and_event(
    settings: Settings, feed_server: FeedServer, store: Store
) -> None:
    from pipeline.config import PROJECT_DIR
    from pipeline.tagging import get_tagger

    tagger = get_tagger("fast", str(PROJECT_DIR / "config"))
    summary = run_pass(settings, demo_feeds(feed_server), store, tag=tagger)
    assert summary.tagged == 27
    agreements = store.query(event_type="agreement", limit=None)
    assert [a.event_dyads for a in agreements] == [["MY-TH"]]
    assert agreements[0].events[0].ct_relevant and agreements[0].taxonomy_version == tagger.version
    isis = {a.title for a in store.query(concept="isis", limit=None)}
    assert "68 Nations Meet in Washington, Vow to Wipe Out Islamic State" in isis
    assert "Oil prices steady as OPEC+ keeps output plan" not in isis
    dialogue = store.query(event_type="dialogue", country="PK", limit=None)
    assert [a.title for a in dialogue] == ["Cooperation emphasised: Pak-US antiterrorism dialogue concludes"]
    sport = next(a for a in store.query(feed_id="malaymail", limit=None) if "shuttlers" in a.title)
    assert sport.relevance == 0 and sport.concepts == [] and sport.events == []


def test_a_feed_that_speaks_for_a_government_marks_its_articles() -> None:
    from datetime import UTC, datetime

    from pipeline.config import FeedConfig
    from pipeline.normalise import normalise_entry

    feed = FeedConfig(id="state", name="State", url="http://127.0.0.1/f.xml", speaks_for="us")
    assert feed.speaks_for == "US"
    article = normalise_entry(
        {"title": "Remarks", "link": "http://127.0.0.1/a", "summary": "Text."},
        feed_id=feed.id,
        source=feed.name,
        language="en",
        fetched_at=datetime.now(UTC),
        speaks_for=feed.speaks_for,
    )
    assert article.speaks_for == "US" and article.to_doc()["speaks_for"] == "US"
