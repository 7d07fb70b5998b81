"""Near-duplicate articles: real copy pairs told from independent reports, copies linked in both stores and in
a pass over feeds served on loopback."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pipeline.config import FeedConfig, Settings, load_settings
from pipeline.duplicates import PAIRS, Copies, link_copies, load_pairs
from pipeline.evaluate import score_copies
from pipeline.run import run_pass
from pipeline.stores import Store
from tests.conftest import serving
from tests.helpers import ALERT_T0, article

ORIGINAL = (
    "Malaysia and Thailand signed a memorandum of understanding on counter-terrorism and intelligence sharing on "
    "Tuesday, the Home Ministry said. The agreement sets up a joint working group on cross-border movements of "
    "militants and on terrorist financing along the shared border. Police Special Branch officers of the two "
    "countries will train together from next year. The two home ministers signed the document in Putrajaya after "
    "a day of talks. Officials said the pact builds on patrols the two navies began in the Strait of Malacca."
)
# What a syndicating outlet does: a dateline, attribution added, one sentence dropped, an abbreviation.
COPY = (
    "PUTRAJAYA \u2014 Malaysia and Thailand signed a memorandum of understanding on counter-terrorism and "
    "intelligence sharing on Tuesday, the Home Ministry said. The agreement sets up a joint working group on "
    "cross-border movements of militants and on terrorist financing along the shared border, officials said. "
    "Police Special Branch officers of the two countries will train together from next year. The two home "
    "ministers signed the MoU in Putrajaya after a day of talks."
)
# The same event, written by another newsroom.
INDEPENDENT = (
    "Thailand's interior minister and his Malaysian counterpart put their names to a security pact in Putrajaya, "
    "promising to pool what their intelligence services know about insurgents moving across the frontier. Analysts "
    "in Bangkok said the deal matters less than whether the southern provinces see fewer bombings this year."
)


def test_real_copy_pairs_are_told_from_independent_reports() -> None:
    """tests/data/duplicates/pairs.yaml (real pages, never used to choose the settings): the bar README states."""
    pairs = load_pairs(PAIRS)
    assert {p.label for p in pairs} == {"duplicate", "distinct"}
    score, rows = score_copies(pairs, load_settings().duplicates)
    assert score.precision >= 0.9 and score.recall >= 0.8, rows
    assert all(similarity < 0.3 for _, label, _, similarity in rows if label == "distinct"), rows


def test_a_copy_is_linked_to_the_stored_original_and_the_independent_report_is_not(store: Store) -> None:
    settings = load_settings().duplicates
    original = article(1, "Malaysia, Thailand sign anti-terror MoU", ORIGINAL, source="Malay Mail")
    assert link_copies([original], store, settings) == 0 and original.story_id == original.id
    list(store.upsert([original]))
    copy = article(2, "KL, Bangkok ink security pact", COPY, source="Wire", published=ALERT_T0 + timedelta(hours=2))
    later = ALERT_T0 + timedelta(hours=3)
    other = article(3, "Security pact signed", INDEPENDENT, source="Bangkok Post", published=later)
    assert link_copies([other, copy], store, settings) == 1
    assert (copy.duplicate_of, copy.story_id) == (original.id, original.id)
    assert (other.duplicate_of, other.story_id) == (None, other.id)
    list(store.upsert([copy, other]))
    stored = store.get(copy.id)
    assert stored is not None and stored.story_id == original.id and stored.minhash_bands == copy.minhash_bands
    assert {a.id for a in store.copies_of(copy.minhash_bands)} >= {original.id, copy.id}
    # A copy of the copy tells the same story.
    again = article(4, "Pact signed", COPY + " No more was said.", published=ALERT_T0 + timedelta(hours=5))
    link_copies([again], store, settings)
    assert again.story_id == original.id and again.duplicate_of in (original.id, copy.id)


def test_a_stored_signature_stands_for_the_text_and_older_articles_without_one_are_hashed(store: Store) -> None:
    """A stored article is compared by the signature kept with it (its text is not hashed again), and one stored
    before signatures were kept (`minhash` empty) by its text."""
    settings = load_settings().duplicates
    kept = article(1, "Malaysia, Thailand sign anti-terror MoU", ORIGINAL, source="Malay Mail")
    link_copies([kept], store, settings)
    assert kept.minhash and Copies(settings).decode(kept.minhash).jaccard(Copies(settings).signature(ORIGINAL)) == 1
    kept.text = kept.summary = "(text withheld: only the stored signature can find this copy)"
    old = article(2, "Malaysia, Thailand sign anti-terror MoU", ORIGINAL, source="Older Store")
    link_copies([old], store, settings)
    old.minhash = None
    list(store.upsert([kept, old]))
    copy = article(3, "KL, Bangkok ink security pact", COPY, source="Wire", published=ALERT_T0 + timedelta(hours=2))
    assert link_copies([copy], store, settings) == 1 and copy.duplicate_of in (kept.id, old.id)
    withheld = Copies(settings)
    assert withheld.stored_signature(store.get(kept.id)).jaccard(withheld.signature(ORIGINAL)) == 1  # kept
    assert withheld.stored_signature(store.get(old.id)).jaccard(withheld.signature(ORIGINAL)) == 1  # hashed


def test_a_pass_links_a_syndicated_copy_from_another_feed(settings: Settings, store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "feeds"
    folder.mkdir()
    for name, link, hour, text in (
        ("local", "https://local.example/2026/mou", "08", ORIGINAL),
        ("wire", "https://wire.example/asia/malaysia-thailand-pact", "10", COPY),
    ):
        (folder / f"{name}.xml").write_text(
            "<?xml version='1.0'?><rss version='2.0'><channel><title>t</title><item>"
            f"<title>Malaysia, Thailand sign pact</title><link>{link}</link>"
            f"<pubDate>Mon, 23 Nov 2026 {hour}:00:00 GMT</pubDate><description>{text}</description>"
            "</item></channel></rss>",
            encoding="utf-8",
        )
    with serving(folder) as server:
        feeds = [FeedConfig(id=n, name=n, url=server.url(f"/feeds/{n}.xml")) for n in ("local", "wire")]
        summary = run_pass(settings, feeds, store)
    assert summary.stored == 2 and summary.copies == 1
    by_feed = {a.feed_id: a for a in store.query(limit=None)}
    local, wire = by_feed["local"], by_feed["wire"]
    assert (wire.duplicate_of, wire.story_id) == (local.id, local.id)
    assert (local.duplicate_of, local.story_id) == (None, local.id)
