"""Alerts against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import json
import re
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html import unescape as html_unescape
from pathlib import Path

import pytest
import trustme
import yaml

from pipeline.alerts import list_alerts, load_rules, run_alerts
from pipeline.alerts.actions import actions_log, mute, review
from pipeline.config import PROJECT_DIR, ConfigError, Settings, SmtpSettings
from pipeline.run import run_pass
from pipeline.stores import Store
from pipeline.stores.elasticsearch import ElasticsearchStore
from pipeline.tagging import get_tagger
from tests.conftest import es_store
from tests.feedserver import FeedServer
from tests.helpers import ALERT_T0 as T0
from tests.helpers import MOU, article, demo_feeds, with_smtp
from tests.smtpserver import SmtpServer, free_port, start

PK_US = "Pakistan and the United States held their counter-terrorism dialogue in Islamabad on Monday."
ID_AU = "Indonesia and Australia signed an agreement to counter ISIS financing and foreign terrorist fighters."
TEAM_RULES = """
rules:
  - id: my-desk
    description: Malaysia desk
    match: {event_types: [agreement, dialogue], status: [signed, held], ct_relevant: true, countries_any: [my]}
    recipients: [my-desk@newswatch.example]
  - id: pk-us-desk
    description: Pakistan-US desk
    match: {event_types: [agreement, dialogue], status: [signed, held], countries_all: [PK, US]}
    recipients: [pk-us-desk@newswatch.example]
  - id: isis-desk
    description: ISIS desk
    match: {event_types: [agreement, dialogue], status: [signed, held], concepts_any: [isis]}
    recipients: [isis-desk@newswatch.example]
"""


def rules_file(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "alerts.yaml"
    path.write_text(text)
    return path


def html_part(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def text_part(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_pak_us_dialogue_produces_exactly_one_alert(settings: Settings, store: Store, smtp: SmtpServer) -> None:
    settings = with_smtp(settings, smtp.port)
    list(store.upsert([article(1, "Pak-US antiterrorism dialogue concludes", PK_US, source="Business Recorder")]))
    result = run_alerts(store, settings)
    assert result.sent == 1 and len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["Subject"] == "[Newswatch] New bilateral dialogue: Pakistan \u2013 United States"
    assert message["To"] == "analysts@newswatch.example" and message["Message-ID"]
    assert "<mark>dialogue</mark>" in html_part(message)
    assert "https://outlet1.example/story" in text_part(message)
    record = list_alerts(store, "sent")[0]
    assert record.message_id == message["Message-ID"] and not record.late
    assert run_alerts(store, settings).sent == 0 and len(smtp.messages) == 1  # a repeat sends nothing


def test_old_news_never_emails_as_new_and_goes_to_the_digest_as_reported_late(
    settings: Settings, feed_server: FeedServer, store: Store, smtp: SmtpServer
) -> None:
    """The demo's Pak-US seed was published in May 2024: fetched today it is old news (max_age_days), so it is
    no immediate alert; each rule's digest lists it once, "reported late"."""
    settings = with_smtp(settings, smtp.port)
    brecorder = [f for f in demo_feeds(feed_server) if f.id == "brecorder"]
    run_pass(settings, brecorder, store, tag=get_tagger("fast", str(PROJECT_DIR / "config")))
    result = run_alerts(store, settings)
    assert result.sent == 0 and smtp.messages == []
    pk_us = [r for r in list_alerts(store) if r.dyad == "PK-US"]
    assert sorted(r.rule for r in pk_us) == ["bilateral-agreements", "cooperation-digest"]
    assert all(r.late and r.delivery == "digest" and not r.update for r in pk_us)
    assert run_alerts(store, settings, digest=True).digests_sent == 2
    for message in smtp.messages:
        assert "Digest" in message["Subject"]
        assert "Pakistan and United States: bilateral dialogue (reported late: first published 2024-05-14" in (
            text_part(message)
        )
        assert "(update)" not in text_part(message)  # new stories, not updates of earlier ones


def test_max_age_is_per_rule(settings: Settings, store: Store, smtp: SmtpServer) -> None:
    """Reported 20 days after it happened: old news by default, an alert for a rule that allows 30 days."""
    old = article(1, "Malaysia, Thailand sign MoU", MOU, published=T0 - timedelta(days=20))
    list(store.upsert([old]))
    rules = load_rules()
    assert run_alerts(store, with_smtp(settings, smtp.port), rules=rules).sent == 0
    patient = [r.model_copy(update={"id": f"{r.id}-30d", "max_age_days": 30}) for r in rules]
    assert run_alerts(store, with_smtp(settings, smtp.port), rules=patient).sent == 1
    assert smtp.messages[0]["Subject"] == "[Newswatch] New bilateral agreement: Malaysia \u2013 Thailand"


def test_coalition_seed_produces_no_alert(settings: Settings, store: Store, smtp: SmtpServer) -> None:
    seeds = yaml.safe_load((PROJECT_DIR / "tests" / "data" / "gold" / "seeds.yaml").read_text())
    seed = next(s for s in seeds if s["id"] == "seed-003")
    list(store.upsert([article(1, seed["title"], seed["text"], published=datetime(2017, 3, 22, tzinfo=UTC))]))
    result = run_alerts(store, with_smtp(settings, smtp.port))
    assert result.created == 0 and smtp.messages == []


def test_three_outlets_one_email_with_three_sources(settings: Settings, store: Store, smtp: SmtpServer) -> None:
    reports = [
        article(1, "Malaysia, Thailand sign MoU", MOU, source="Malay Mail"),
        article(
            2, "KL and Bangkok seal anti-terror pact", MOU, source="Bangkok Post", published=T0 + timedelta(hours=5)
        ),
        article(3, "Thai-Malaysian security MoU signed", MOU, source="BenarNews", published=T0 + timedelta(days=1)),
    ]
    list(store.upsert(reports))
    result = run_alerts(store, with_smtp(settings, smtp.port))
    assert result.sent == 1 and len(smtp.messages) == 1
    html = html_part(smtp.messages[0])
    assert smtp.messages[0]["Subject"] == "[Newswatch] New bilateral agreement: Malaysia \u2013 Thailand"
    for n in (1, 2, 3):
        assert f'href="https://outlet{n}.example/story"' in html
    assert "Sources (3)" in text_part(smtp.messages[0])


def test_one_happening_framed_two_ways_is_one_alert_led_by_the_strongest_frame(
    settings: Settings, store: Store, smtp: SmtpServer
) -> None:
    """One outlet reports the talks, another the MoU signed at them: one story (the country pair within the
    window, not the event type), one email led by the agreement, both sources listed."""
    talks = "Malaysia and Thailand held talks on counter-terrorism and intelligence sharing in Putrajaya."
    reports = [
        article(1, "Malaysia, Thailand hold counter-terrorism talks", talks, source="Bernama"),
        article(2, "Malaysia, Thailand sign MoU", MOU, source="Bangkok Post", published=T0 + timedelta(hours=3)),
    ]
    assert {e.type for a in reports for e in a.events} == {"dialogue", "agreement"}
    list(store.upsert(reports))
    result = run_alerts(store, with_smtp(settings, smtp.port))
    assert result.sent == 1 and len(smtp.messages) == 1
    assert smtp.messages[0]["Subject"] == "[Newswatch] New bilateral agreement: Malaysia \u2013 Thailand"
    text = text_part(smtp.messages[0])
    assert "Sources (2)" in text and "Bernama" in text and "Bangkok Post" in text


def test_a_mute_holds_a_pair_then_lapses_and_its_alerts_come_back(
    settings: Settings, store: Store, smtp: SmtpServer
) -> None:
    settings = with_smtp(settings, smtp.port)
    now = datetime.now(UTC)
    entry = mute(store, "th-my", 1, "desk-a", now, "known, being handled")
    assert entry.target == "MY-TH" and entry.until == now + timedelta(days=1)
    list(store.upsert([article(1, "Malaysia, Thailand sign MoU", MOU)]))
    held = run_alerts(store, settings, now=now + timedelta(hours=1))
    assert held.sent == 0 and held.muted == 2 and smtp.messages == []  # both rules' records held
    muted = list_alerts(store, "muted")
    assert all("muted by desk-a until" in (r.last_error or "") for r in muted)
    assert run_alerts(store, settings, now=now + timedelta(hours=2), digest=True).digests_sent == 0
    # The mute lapses by itself: a new story of the pair alerts again, and the held ones stay held.
    later = article(2, "New MoU", MOU, source="Later", published=T0 + timedelta(days=3, hours=12))
    list(store.upsert([later]))
    back = run_alerts(store, settings, now=now + timedelta(days=4))
    assert back.sent == 1 and back.muted == 0 and len(smtp.messages) == 1
    assert len(list_alerts(store, "muted")) == 2
    assert [a.action for a in actions_log(store)] == ["mute"]


def test_team_subscriptions_filter_on_countries_and_concepts(
    settings: Settings, store: Store, smtp: SmtpServer
) -> None:
    """Per-team rules: a Malaysia desk (any event with MY), a Pakistan-US desk (both parties) and an ISIS desk
    (articles carrying the concept) each get only their own stories."""
    rules = load_rules(rules_file(settings.home, TEAM_RULES))
    list(
        store.upsert(
            [
                article(1, "Malaysia, Thailand sign MoU", MOU),
                article(2, "Pakistan and US hold counter-terrorism dialogue", PK_US, published=T0 + timedelta(hours=1)),
                article(3, "Indonesia and Australia sign pact against ISIS", ID_AU, published=T0 + timedelta(hours=2)),
            ]
        )
    )
    result = run_alerts(store, with_smtp(settings, smtp.port), rules=rules)
    got = sorted((m["To"], m["Subject"].split(": ", 1)[1]) for m in smtp.messages)
    assert result.failed == 0 and got == [
        ("isis-desk@newswatch.example", "Australia \u2013 Indonesia"),
        ("my-desk@newswatch.example", "Malaysia \u2013 Thailand"),
        ("pk-us-desk@newswatch.example", "Pakistan \u2013 United States"),
    ]


def test_later_report_in_the_window_goes_to_the_digest(settings: Settings, store: Store, smtp: SmtpServer) -> None:
    settings = with_smtp(settings, smtp.port)
    list(store.upsert([article(1, "Malaysia, Thailand sign MoU", MOU)]))
    assert run_alerts(store, settings).sent == 1
    list(store.upsert([article(2, "Update: MoU details", MOU, source="Late Outlet", published=T0 + timedelta(days=2))]))
    later = run_alerts(store, settings)
    assert later.sent == 0 and later.updates >= 1 and len(smtp.messages) == 1
    digest = run_alerts(store, settings, digest=True)
    assert digest.digests_sent >= 1
    digests = [m for m in smtp.messages if "Digest" in m["Subject"]]
    assert any("Late Outlet" in text_part(m) and "(update)" in text_part(m) for m in digests)
    # Outside the window the same dyad is a new story with its own immediate alert.
    list(store.upsert([article(3, "New MoU", MOU, source="Far Later", published=T0 + timedelta(days=30))]))
    assert run_alerts(store, settings).sent == 1


def test_late_indexed_article_is_not_missed(settings: Settings, store: Store, smtp: SmtpServer) -> None:
    """An article indexed after the watermark moved on is still evaluated: here old news, so a late digest item."""
    settings = with_smtp(settings, smtp.port)
    list(store.upsert([article(1, "Malaysia, Thailand sign MoU", MOU)]))
    run_alerts(store, settings)
    old_news = article(
        2,
        "Indonesia and Australia sign counter-terrorism treaty",
        "Indonesia and Australia signed a counter-terrorism treaty.",
        published=T0 - timedelta(days=20),
    )
    list(store.upsert([old_news]))  # published long ago, indexed now
    assert run_alerts(store, settings).sent == 0
    late = [r for r in list_alerts(store, "pending") if r.dyad == "AU-ID" and r.rule == "bilateral-agreements"]
    assert len(late) == 1 and late[0].late and late[0].delivery == "digest"


def test_html_in_a_title_arrives_escaped(settings: Settings, store: Store, smtp: SmtpServer) -> None:
    hostile = "<script>alert('x')</script><img src=x onerror=alert(1)> Malaysia and Thailand sign MoU"
    list(store.upsert([article(1, hostile, MOU)]))
    run_alerts(store, with_smtp(settings, smtp.port))
    html = html_part(smtp.messages[0])
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_smtp_down_keeps_the_alert_pending_then_sends_it_once(
    settings: Settings, store: Store, smtp: SmtpServer
) -> None:
    list(store.upsert([article(1, "Malaysia, Thailand sign MoU", MOU)]))
    down = run_alerts(store, with_smtp(settings, free_port()))
    assert down.sent == 0 and down.failed == 1
    pending = [r for r in list_alerts(store, "pending") if r.delivery == "immediate"]
    assert len(pending) == 1 and "Connection" in pending[0].last_error and pending[0].attempts == 1
    back = run_alerts(store, with_smtp(settings, smtp.port))
    assert back.sent == 1 and len(smtp.messages) == 1
    assert smtp.messages[0]["Message-ID"] == pending[0].message_id
    assert run_alerts(store, with_smtp(settings, smtp.port)).sent == 0 and len(smtp.messages) == 1
    assert all(r.delivery == "digest" for r in list_alerts(store, "pending"))


def test_starttls_with_a_trusted_self_signed_certificate(settings: Settings, store: Store, tmp_path: Path) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = start(SmtpServer(tls_context=server_context, require_starttls=True))
    try:
        list(store.upsert([article(1, "Malaysia, Thailand sign MoU", MOU)]))
        untrusted = settings.model_copy(update={"smtp": SmtpSettings(host="127.0.0.1", port=server.port, timeout=5)})
        assert run_alerts(store, untrusted).failed == 1  # the certificate is not trusted by default
        trusted = settings.model_copy(
            update={"smtp": SmtpSettings(host="127.0.0.1", port=server.port, timeout=5, ca_file=ca_file)}
        )
        assert run_alerts(store, trusted).sent == 1 and len(server.messages) == 1
    finally:
        server.stop()


def test_outbox_without_smtp(settings: Settings, store: Store) -> None:
    list(store.upsert([article(1, "Malaysia, Thailand sign MoU", MOU)]))
    result = run_alerts(store, settings)
    files = list(settings.outbox_dir.glob("*.eml"))
    assert result.sent == 1 and len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert message["Subject"].startswith("[Newswatch] New bilateral agreement")
    assert run_alerts(store, settings).sent == 0 and len(list(settings.outbox_dir.glob("*.eml"))) == 1


def test_bad_rules_file_names_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("rules:\n  - {id: r1, description: d, match: {event_types: [treaty]}, recipients: [a@b.c]}\n")
    with pytest.raises(
        ConfigError, match=r"rules\[0\] \(id 'r1'\)\.match\.event_types\[0\]: Input should be 'agreement'"
    ):
        load_rules(path)
    path.write_text("rules:\n  - {id: r1, description: d, match: {}, recipients: [nobody]}\n")
    with pytest.raises(ConfigError, match="not an email address"):
        load_rules(path)


def test_cli_preview_renders_without_recording(settings: Settings, tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env["NEWSWATCH_HOME"] = str(tmp_path / "home")
    demo = str(PROJECT_DIR / "config" / "feeds.demo.yaml")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, env=env, timeout=300
        )

    # store only (alerts would record and send): run with a rules file that has no enabled rule
    env["NEWSWATCH_CONFIG_DIR"] = str(tmp_path / "config")
    import shutil

    shutil.copytree(PROJECT_DIR / "config", tmp_path / "config")
    rules = yaml.safe_load((tmp_path / "config" / "alerts.yaml").read_text())
    for rule in rules["rules"]:
        rule["enabled"] = False
    (tmp_path / "config" / "alerts.yaml").write_text(yaml.safe_dump(rules))
    assert cli("run", "--feeds", demo, "--tagging", "fast").returncode == 0
    preview = cli("alerts", "preview", "bilateral-agreements")
    assert preview.returncode == 0, preview.stderr
    assert "Subject: [Newswatch] New bilateral agreement: Malaysia \u2013 Thailand" in preview.stdout
    assert "Subject: [Newswatch] New bilateral dialogue: Pakistan \u2013 United States" in preview.stdout
    listed = cli("alerts", "list", "--json")
    assert listed.returncode == 0 and listed.stdout.strip() == "[]"
    assert cli("alerts", "preview", "no-such-rule").returncode == 2


@pytest.mark.parametrize("settle_seconds", [120, 0], ids=["default-settle", "no-settle"])
def test_a_write_that_becomes_visible_late_is_alerted_once_after_the_settle_time(
    settle_seconds: int, settings: Settings, es_url: str, smtp: SmtpServer
) -> None:
    """An alerts run interleaved with two ingest writers on the real node. Writer A stamps its document first,
    but its bulk request reaches the node late (in flight or retried: the one step done by hand here, writing
    A's document with its earlier stamp straight to the index); writer B's later-stamped document is already
    searchable when the alerts run comes. With the default settle time every article is alerted exactly once;
    without one, the watermark moves past A's stamp and A is never alerted."""
    settings = with_smtp(settings, smtp.port)
    store = es_store(es_url, settle_seconds=settle_seconds)
    try:
        early = article(1, "Malaysia, Thailand sign MoU", MOU)
        later = article(2, "Pakistan and US hold counter-terrorism dialogue", PK_US)
        stamped_early = datetime.now(UTC)  # writer A stamps, then its request is delayed
        list(store.upsert([later]))  # writer B: stamped after A, searchable at once
        run_alerts(store, settings, now=datetime.now(UTC))  # the alerts run comes in between
        document = json.loads(store.source_json(early, stamped_early))
        store.es.index(index=store.alias_for(early), id=early.id, document=document, refresh=True)  # A lands at last
        after_settle = datetime.now(UTC) + timedelta(seconds=settle_seconds + 1)
        run_alerts(store, settings, now=after_settle)
        run_alerts(store, settings, now=after_settle + timedelta(minutes=5))  # a later run adds nothing
        sent = sorted(m["Subject"].split(": ", 1)[1] for m in smtp.messages)
        if settle_seconds:
            assert sent == ["Malaysia \u2013 Thailand", "Pakistan \u2013 United States"]
        else:  # what the settle time prevents: A was stamped before the watermark, and is missed for good
            assert sent == ["Pakistan \u2013 United States"]
    finally:
        store.drop()
        store.close()


def test_alerts_and_feed_health_are_searchable_in_their_own_indices(
    settings: Settings, feed_server: FeedServer, es: ElasticsearchStore, smtp: SmtpServer
) -> None:
    """What the "Alerts and feeds" dashboard reads: the alert records in `<prefix>-alerts` (a review shows at
    once) and feed health in `<prefix>-feeds`, both queried here on the real node by their mapped fields."""
    settings = with_smtp(settings, smtp.port)
    run_pass(settings, demo_feeds(feed_server), es, tag=get_tagger("fast", str(PROJECT_DIR / "config")))
    assert run_alerts(es, settings).sent == 2
    alerts, feeds = es.views["alert"], es.views["feed"]

    def found(index: str, query: dict) -> list[dict]:
        return [h["_source"] for h in es.es.search(index=index, query=query, size=50)["hits"]["hits"]]

    [pact] = found(alerts, {"bool": {"filter": [{"term": {"dyad": "MY-TH"}}, {"term": {"delivery": "immediate"}}]}})
    assert pact["status"] == "sent" and pact["review"] == "open" and pact["sources"][0]["url"].startswith("https://")
    assert len(found(alerts, {"term": {"late": True}})) == 3  # the seeds: old news, digest items only
    review(es, pact["id"], "ack", "desk-a", datetime.now(UTC))
    assert found(alerts, {"term": {"review": "acknowledged"}})[0]["id"] == pact["id"]
    healthy = found(feeds, {"term": {"consecutive_failures": 0}})
    assert sorted(f["key"] for f in healthy) == sorted(f.id for f in demo_feeds(feed_server))
    assert all(f["last_success"] and f["last_new_articles_at"] for f in healthy)


def test_alert_emails_link_to_the_story_in_kibana(settings: Settings, store: Store, smtp: SmtpServer) -> None:
    settings = with_smtp(settings, smtp.port).model_copy(update={"kibana_public_url": "https://kibana.example.org"})
    list(store.upsert([article(1, "Malaysia, Thailand sign MoU", MOU)]))
    assert run_alerts(store, settings).sent == 1
    [record] = [r for r in list_alerts(store, "sent")]
    link = (
        "https://kibana.example.org/app/dashboards#/view/newswatch-alerts-feeds"
        f"?_g=(time:(from:now-90d,to:now))&_a=(query:(language:kuery,query:'id:{record.id}'))"
    )
    assert f"See this story in Kibana: {link}" in text_part(smtp.messages[0])
    hrefs = re.findall(r'<a href="([^"]*)">See this story in Kibana</a>', html_part(smtp.messages[0]))
    assert [html_unescape(h) for h in hrefs] == [link]  # escaped in the attribute, as HTML must be
    assert run_alerts(store, settings, digest=True).digests_sent == 1  # the digest items link to theirs
    assert "In Kibana: https://kibana.example.org/app/dashboards#/view/newswatch-alerts-feeds" in text_part(
        smtp.messages[-1]
    )
