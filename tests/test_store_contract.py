"""The Store contract: every store implementation (SQLite now, Elasticsearch later) passes these tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.models import Event
from pipeline.stores import Store
from tests.helpers import STORE_T0 as T0
from tests.helpers import make


def test_upsert_is_idempotent_with_per_document_results(store: Store) -> None:
    docs = [make(i) for i in range(5)]
    assert [r.action for r in store.upsert(docs)] == ["created"] * 5
    assert [r.action for r in store.upsert(docs)] == ["unchanged"] * 5
    assert store.count() == 5
    changed = make(2, text="A corrected body.")
    results = list(store.upsert([changed, make(9)]))
    assert [(r.id, r.action) for r in results] == [(changed.id, "updated"), (make(9).id, "created")]
    assert store.get(changed.id).text == "A corrected body."
    assert store.count() == 6


def test_unchanged_keeps_indexed_at_and_update_moves_it(store: Store) -> None:
    doc = make(1)
    list(store.upsert([doc]))
    first = store.get(doc.id).indexed_at
    assert first is not None
    list(store.upsert([make(1)]))
    assert store.get(doc.id).indexed_at == first
    list(store.upsert([make(1, text="new text")]))
    assert store.get(doc.id).indexed_at > first


def test_seen_returns_content_hashes(store: Store) -> None:
    docs = [make(i) for i in range(3)]
    list(store.upsert(docs))
    seen = store.seen([d.id for d in docs] + ["missing"])
    assert seen == {d.id: d.content_hash for d in docs}


def test_round_trip_keeps_the_document(store: Store) -> None:
    event = Event(
        type="agreement",
        parties=["MY", "US"],
        sentence="s",
        trigger="signed",
        ct_relevant=True,
        confidence=0.9,
    )
    doc = make(
        1,
        concepts=["isis"],
        countries=["MY", "US"],
        events=[event],
        event_types=["agreement"],
        event_dyads=["MY-US"],
        flags=["date_missing"],
    )
    list(store.upsert([doc]))
    back = store.get(doc.id)
    assert back.model_dump(exclude={"indexed_at"}) == doc.model_dump(exclude={"indexed_at"})


def test_query_filters(store: Store) -> None:
    def event(kind: str) -> Event:
        return Event(type=kind, parties=["MY", "US"], sentence="s", trigger="t")

    list(
        store.upsert(
            [
                make(1, concepts=["isis"], countries=["MY"], events=[event("agreement")], event_types=["agreement"]),
                make(2, concepts=["ttp"], countries=["PK", "US"], feed="f2"),
                make(
                    3, concepts=["isis", "ttp"], countries=["US"], events=[event("dialogue")], event_types=["dialogue"]
                ),
            ]
        )
    )
    ids = lambda arts: [a.title for a in arts]  # noqa: E731
    assert ids(store.query(concept="isis")) == ["Article number 3", "Article number 1"]
    assert ids(store.query(country="PK")) == ["Article number 2"]
    assert ids(store.query(event_type="dialogue")) == ["Article number 3"]
    assert ids(store.query(feed_id="f2")) == ["Article number 2"]
    assert ids(store.query(since=T0 + timedelta(hours=2))) == ["Article number 3", "Article number 2"]
    assert ids(store.query(until=T0 + timedelta(hours=2))) == ["Article number 1"]
    assert ids(store.query(concept="isis", country="MY")) == ["Article number 1"]
    assert ids(store.query(limit=1)) == ["Article number 3"]
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert store.query(since=later, time_field="indexed_at") == []
    assert len(store.query(since=T0, time_field="indexed_at")) == 3


def test_query_by_entity_in_any_case_and_by_language(store: Store) -> None:
    list(
        store.upsert(
            [
                make(1, entities={"persons": ["Anwar Ibrahim"], "places": ["Kuala Lumpur"]}, language="en"),
                make(2, entities={"organisations": ["Royal Malaysia Police"]}, language="ms"),
                make(3, entities={"persons": ["Anwar"]}, language="en"),
            ]
        )
    )
    ids = lambda arts: [a.title for a in arts]  # noqa: E731
    assert ids(store.query(entity="anwar ibrahim")) == ["Article number 1"]  # whole name, any case
    assert ids(store.query(entity="Kuala Lumpur")) == ["Article number 1"]  # places too
    assert ids(store.query(entity="ROYAL MALAYSIA POLICE")) == ["Article number 2"]
    assert ids(store.query(entity="Anwar")) == ["Article number 3"]  # a name, not a substring
    assert store.query(entity="Najib") == []
    assert ids(store.query(language="ms")) == ["Article number 2"]
    assert ids(store.query(language="en", entity="anwar")) == ["Article number 3"]


def test_full_text_search_ranks_and_tolerates_odd_queries(store: Store) -> None:
    list(
        store.upsert(
            [
                make(1, title="Malaysia and Thailand sign MoU", text="Counter-terrorism cooperation on the border."),
                make(2, title="Football results", text="A late goal. Terrorism was not mentioned."),
                make(3, title="Weather", text="Rain in Kelantan."),
            ]
        )
    )
    hits = store.search("terrorism")
    assert {h.article.title for h in hits} == {"Malaysia and Thailand sign MoU", "Football results"}
    assert all(h.score > 0 for h in hits)
    list(store.upsert([make(4, title="Regional news", text="Thailand hosted the meeting.")]))
    assert [h.article.title for h in store.search("thailand")] == ["Malaysia and Thailand sign MoU", "Regional news"]
    assert [h.article.title for h in store.search("MoU Thailand")] == ["Malaysia and Thailand sign MoU"]
    assert [h.article.title for h in store.search("counter-terrorism")] == ["Malaysia and Thailand sign MoU"]
    assert {h.article.title for h in store.search("kelantan OR goal")} == {"Weather", "Football results"}
    for odd in ['"unbalanced', "AND", "NEAR(", "*", "a:b"]:
        store.search(odd)  # must not raise
    assert store.search("   ") == []
    # A changed document is searchable by its new text, not its old one.
    list(store.upsert([make(3, title="Weather", text="Sunny in Penang.")]))
    assert store.search("Kelantan") == []
    assert [h.article.title for h in store.search("Penang")] == ["Weather"]


def test_counts(store: Store) -> None:
    list(store.upsert([make(1), make(2, feed="f2"), make(3, feed="f2")]))
    assert store.count() == 3
    assert store.count(feed_id="f2") == 2
    assert store.counts_by_feed() == {"f1": 1, "f2": 2}


def test_state_area(store: Store) -> None:
    assert store.state_get("feed", "a") is None
    store.state_put("feed", "a", {"etag": '"x"', "n": 1})
    store.state_put("feed", "b", {"etag": None})
    store.state_put("alerts", "a", {"watermark": "2026-01-01"})
    store.state_put("feed", "a", {"etag": '"y"', "n": 2})
    assert store.state_get("feed", "a") == {"etag": '"y"', "n": 2}
    assert store.state_items("feed") == {"a": {"etag": '"y"', "n": 2}, "b": {"etag": None}}
    store.state_delete("feed", "b")
    assert list(store.state_items("feed")) == ["a"]
    assert store.state_items("alerts") == {"a": {"watermark": "2026-01-01"}}
