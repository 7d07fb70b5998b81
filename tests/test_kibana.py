"""Kibana dashboards as code: the saved objects against the index template, and `newswatch kibana import`.

No Kibana can run on these machines (it is not on any registry they reach), so the import is tested against
`KibanaStandIn`: a real HTTP server on 127.0.0.1 that checks each request the way Kibana's saved-objects
import API would (method, path, overwrite=true, the kbn-xsrf header, the credentials, a multipart NDJSON
file) and answers in Kibana's response shape. It is a stand-in, not Kibana: it does not render anything.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pipeline.config import PROJECT_DIR, ElasticsearchSettings, KibanaSettings
from pipeline.kibana import (
    check_objects,
    data_view_fields,
    fields_used,
    kql_fields,
    load_objects,
    mapping_fields,
    objects_path,
    rule_fields_used,
    rule_path,
)
from pipeline.stores.elasticsearch import ElasticsearchStore

TEMPLATE = PROJECT_DIR / "config" / "elasticsearch" / "index-template.json"
USER, PASSWORD = "elastic", "s3cret-kibana-pw"


@pytest.fixture(scope="module")
def fields() -> dict[str, str]:
    """The article index template's fields."""
    return mapping_fields(json.loads(TEMPLATE.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def views() -> dict[str, dict[str, str]]:
    """Every data view's fields, from the mappings in config/elasticsearch."""
    return data_view_fields(TEMPLATE.parent)


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return load_objects()


def by_type(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["type"] == kind]


# --- the saved objects --------------------------------------------------------------------------------


def test_every_reference_and_every_field_resolves(
    objects: list[dict[str, Any]], views: dict[str, dict[str, str]]
) -> None:
    assert check_objects(objects, views) == []
    assert all(fields_used(o) or o["type"] == "dashboard" for o in objects)  # the check saw fields in each


def test_the_check_finds_what_would_break(objects: list[dict[str, Any]], views: dict[str, dict[str, str]]) -> None:
    broken = json.loads(json.dumps(objects))
    vis = next(o for o in broken if o["id"] == "newswatch-top-concepts")
    state = json.loads(vis["attributes"]["visState"])
    state["aggs"][1]["params"]["field"] = "concept"  # a typo
    vis["attributes"]["visState"] = json.dumps(state)
    dashboard = next(o for o in broken if o["id"] == "newswatch-ct-monitor")
    dashboard["references"][0]["id"] = "no-such-visualization"
    feeds = next(o for o in broken if o["id"] == "newswatch-feed-problems")
    feeds["attributes"]["columns"].append("dyad")  # an alerts field in the feeds' table
    problems = check_objects(broken, views)
    assert "visualization newswatch-top-concepts: field concept is not in the mapping of newswatch-articles" in problems
    assert any("panel_1 -> visualization no-such-visualization is not in the file" in p for p in problems)
    assert "search newswatch-feed-problems: field dyad is not in the mapping of newswatch-feeds" in problems


def test_data_view_is_the_article_alias_with_published_at(
    objects: list[dict[str, Any]], fields: dict[str, str]
) -> None:
    view = next(o for o in by_type(objects, "index-pattern") if o["id"] == "newswatch-articles")
    alias = ElasticsearchStore.from_settings(ElasticsearchSettings(url="http://127.0.0.1:9"), setup=False).alias
    assert view["attributes"]["title"] == alias == "newswatch-articles"
    assert view["attributes"]["timeFieldName"] == "published_at" and fields["published_at"] == "date"


def test_dashboard_has_the_panels_the_analysts_need(objects: list[dict[str, Any]], fields: dict[str, str]) -> None:
    dashboard = next(o for o in by_type(objects, "dashboard") if o["id"] == "newswatch-ct-monitor")
    assert dashboard["attributes"]["title"] == "Counter-terrorism monitor"
    panels = {(r["type"], r["id"]) for r in dashboard["references"]}
    everything = {(o["type"], o["id"]): o for o in objects}
    used = {f for key in panels for f in fields_used(everything[key])}
    assert {"published_at", "categories", "concepts", "countries", "country_locations"} <= used
    assert fields["country_locations"] == "geo_point"
    assert ("map", "newswatch-countries-map") in panels
    events = everything[("search", "newswatch-bilateral-events")]["attributes"]["columns"]
    assert events == ["event_dyads", "event_types", "title", "source", "url"]  # date is the data view's time column
    assert ("search", "newswatch-bilateral-events") in panels


def test_alerts_and_feeds_dashboard_reads_the_alert_and_feed_indices(
    objects: list[dict[str, Any]], views: dict[str, dict[str, str]]
) -> None:
    """Alerts over time by country pair and by status, the open alerts with their links, failing and stale feeds:
    each panel on the data view of `<prefix>-alerts` or `<prefix>-feeds`, whose names the store uses."""
    store = ElasticsearchStore.from_settings(ElasticsearchSettings(url="http://127.0.0.1:9"), setup=False)
    assert set(store.views.values()) == {"newswatch-alerts", "newswatch-feeds"} <= set(views)
    dashboard = next(o for o in by_type(objects, "dashboard") if o["id"] == "newswatch-alerts-feeds")
    assert dashboard["attributes"]["title"] == "Alerts and feeds"
    everything = {(o["type"], o["id"]): o for o in objects}
    panels = [everything[(r["type"], r["id"])] for r in dashboard["references"]]
    assert {r["id"] for p in panels for r in p["references"]} == set(store.views.values())
    used = {f for p in panels for f in fields_used(p)}
    assert {"created_at", "dyad", "status", "review", "sources.url"} <= used
    assert {"consecutive_failures", "disabled", "last_new_articles_at", "last_error"} <= used
    open_alerts = everything[("search", "newswatch-open-alerts")]
    query = json.loads(open_alerts["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]
    assert query == {"query": 'review:"open"', "language": "kuery"}


def test_saved_search_for_ct_agreements_queries_the_nested_events(objects: list[dict[str, Any]]) -> None:
    search = next(o for o in objects if o["id"] == "newswatch-ct-agreements")
    query = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]
    assert query["language"] == "kuery"
    assert kql_fields(query["query"]) == {"events", "events.type", "events.ct_relevant"}
    assert '"agreement"' in query["query"] and "ct_relevant:true" in query["query"]


def test_alerting_rule_definition_matches_the_mapping(fields: dict[str, str]) -> None:
    rule = json.loads(rule_path().read_text(encoding="utf-8"))
    assert rule["rule_type_id"] == ".es-query" and rule["params"]["index"] == ["newswatch-articles"]
    used = rule_fields_used(rule)
    assert used == {"indexed_at", "events", "events.type", "events.ct_relevant"}
    assert used <= set(fields) and fields["events"] == "nested"


def test_kql_fields() -> None:
    assert kql_fields('countries:MY and not title:"x: y"') == {"countries", "title"}
    assert kql_fields("events:{ type:dialogue } and events:{ parties:PK }") == {
        "events",
        "events.type",
        "events.parties",
    }
    assert kql_fields("") == set()


# --- the import command against a Kibana stand-in ------------------------------------------------------


class KibanaStandIn:
    """A loopback HTTP server that accepts what Kibana's import API accepts (see the module docstring)."""

    def __init__(self, *, unavailable_polls: int = 0) -> None:
        self.stored: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.unavailable_polls = unavailable_polls
        self.rules: set[str] = set()
        handler = type("Handler", (_KibanaHandler,), {"kibana": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="kibana-stand-in", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def import_file(self, content: bytes, overwrite: bool) -> tuple[int, dict[str, Any]]:
        results, errors = [], []
        for line in content.decode("utf-8").splitlines():
            obj = json.loads(line)
            key = (obj["type"], obj["id"])
            meta = {"title": obj["attributes"].get("title") or obj["attributes"].get("name", "")}
            if key in self.stored and not overwrite:
                errors.append({"type": key[0], "id": key[1], "meta": meta, "error": {"type": "conflict"}})
                continue
            result = {"type": key[0], "id": key[1], "meta": meta}
            if key in self.stored:
                result["overwrite"] = True
            self.stored[key] = obj
            results.append(result)
        body: dict[str, Any] = {"success": not errors, "successCount": len(results), "successResults": results}
        if errors:
            body["errors"] = errors
        return 200, body


class _KibanaHandler(BaseHTTPRequestHandler):
    kibana: KibanaStandIn

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self._answer(401, {"statusCode": 401, "error": "Unauthorized", "message": "Unauthorized"})
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.kibana.requests.append({"method": "GET", "path": self.path})
        if not self._authorised():
            return
        if urlsplit(self.path).path == "/api/status":
            if self.kibana.unavailable_polls > 0:
                self.kibana.unavailable_polls -= 1
                self._answer(503, {"message": "Kibana server is not ready yet"})
                return
            self._answer(200, {"status": {"overall": {"level": "available"}}})
            return
        self._answer(404, {"message": "Not Found"})

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.kibana.requests.append(
            {
                "method": "POST",
                "path": url.path,
                "query": parse_qs(url.query),
                "headers": dict(self.headers),
                "body": body,
            }
        )
        if not self._authorised():
            return
        if self.headers.get("kbn-xsrf") is None:
            self._answer(400, {"message": "Request must contain a kbn-xsrf header."})
            return
        path = re.sub(r"^/s/[a-z0-9_-]+(?=/api/)", "", url.path)  # a space's copy of the API
        if path.startswith("/api/alerting/rule/"):
            rule_id = path.rsplit("/", 1)[1]
            rule = json.loads(body)
            if rule_id in self.kibana.rules:
                self._answer(409, {"message": f"Saved object [alert/{rule_id}] conflict"})
                return
            assert rule["rule_type_id"] == ".es-query"
            self.kibana.rules.add(rule_id)
            self._answer(200, {"id": rule_id, **rule})
            return
        if path != "/api/saved_objects/_import":
            self._answer(404, {"message": "Not Found"})
            return
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            self._answer(415, {"message": "Unsupported Media Type"})
            return
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        files = [
            part for part in message.iter_parts() if part.get_param("name", header="content-disposition") == "file"
        ]
        if len(files) != 1 or not files[0].get_filename("").endswith(".ndjson"):
            self._answer(400, {"message": "[request body.file]: expected an .ndjson file"})
            return
        overwrite = parse_qs(url.query).get("overwrite") == ["true"]
        self._answer(*self.kibana.import_file(files[0].get_payload(decode=True), overwrite))


@pytest.fixture
def kibana() -> Iterator[KibanaStandIn]:
    from tests.conftest import server_unavailable

    try:
        server = KibanaStandIn()
    except OSError as exc:
        server_unavailable("Kibana stand-in HTTP server on 127.0.0.1", str(exc))
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def newswatch(*args: str, url: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSWATCH_", "KIBANA_"))}
    env.update({"KIBANA_URL": url, "KIBANA_USERNAME": USER, "KIBANA_PASSWORD": password, "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "kibana", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=PROJECT_DIR,
    )


def test_import_posts_the_file_and_reports_what_was_created(
    kibana: KibanaStandIn, objects: list[dict[str, Any]]
) -> None:
    first = newswatch("import", "--rule", url=kibana.url)
    assert first.returncode == 0, first.stdout + first.stderr
    [request, rule_request] = [r for r in kibana.requests if r["method"] == "POST"]
    assert request["path"] == "/api/saved_objects/_import" and request["query"] == {"overwrite": ["true"]}
    assert request["headers"]["kbn-xsrf"]
    assert set(kibana.stored) == {(o["type"], o["id"]) for o in objects}
    assert kibana.stored[("dashboard", "newswatch-ct-monitor")] == next(o for o in objects if o["type"] == "dashboard")
    assert f"{len(objects)} created, 0 overwritten, 0 failed; alerting rule created" in first.stdout
    assert "Counter-terrorism monitor" in first.stdout
    assert rule_request["path"] == "/api/alerting/rule/newswatch-ct-agreements"
    # Again: every object overwritten in place, the rule already there; nothing fails.
    again = newswatch("import", "--rule", "--json", url=kibana.url)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert (len(report["created"]), len(report["overwritten"]), report["errors"], report["rule"]) == (
        0,
        len(objects),
        [],
        "exists",
    )
    assert PASSWORD not in first.stdout + first.stderr + again.stdout + again.stderr


def test_import_into_a_space_after_waiting_for_kibana(kibana: KibanaStandIn) -> None:
    kibana.unavailable_polls = 2
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pipeline.kibana import wait_until_available, import_objects; "
            "from pipeline.config import KibanaSettings;"
            f"s = KibanaSettings(url={kibana.url!r}, username={USER!r}, password={PASSWORD!r}, space='analysts');"
            "wait_until_available(s, timeout=30, interval=0.05); r = import_objects(s); print(len(r.created))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_DIR,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(saved_object_count())
    polls = [r["path"] for r in kibana.requests if r["method"] == "GET"]
    assert polls == ["/api/status"] * 3
    assert [r["path"] for r in kibana.requests if r["method"] == "POST"] == ["/s/analysts/api/saved_objects/_import"]


def saved_object_count() -> int:
    return len(objects_path().read_text(encoding="utf-8").splitlines())


def test_conflicts_without_overwrite_fail_with_exit_1(kibana: KibanaStandIn) -> None:
    assert newswatch("import", url=kibana.url).returncode == 0
    kept = newswatch("import", "--no-overwrite", url=kibana.url)
    assert kept.returncode == 1
    assert f"0 created, 0 overwritten, {saved_object_count()} failed" in kept.stdout and "conflict" in kept.stdout


def test_wrong_password_is_a_clear_error_that_shows_no_secret(kibana: KibanaStandIn) -> None:
    wrong = newswatch("import", url=kibana.url, password="not-the-password-123")
    assert wrong.returncode == 1
    assert "refused the login (HTTP 401)" in wrong.stderr and "Traceback" not in wrong.stderr
    assert "not-the-password-123" not in wrong.stdout + wrong.stderr
    assert kibana.stored == {}


def test_a_broken_file_is_a_configuration_error_and_nothing_is_sent(kibana: KibanaStandIn, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text(objects_path().read_text(encoding="utf-8").splitlines()[0] + "\n{not json\n", encoding="utf-8")
    result = newswatch("import", "--file", str(bad), url=kibana.url)
    assert result.returncode == 2
    assert f"{bad}:2: not valid JSON" in result.stderr.replace("\n", "")
    assert kibana.requests == []


def test_unreachable_kibana_and_the_check_command() -> None:
    down = newswatch("import", url="http://127.0.0.1:9")
    assert down.returncode == 1 and "cannot reach Kibana at http://127.0.0.1:9" in down.stderr
    check = newswatch("check", url="http://127.0.0.1:9")
    assert check.returncode == 0 and "references and fields all resolve" in check.stdout


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIBANA_URL", "https://kibana.example:5601")
    monkeypatch.setenv("KIBANA_API_KEY", "abc123")
    resolved = KibanaSettings().resolved()
    assert resolved.url == "https://kibana.example:5601" and resolved.api_key.get_secret_value() == "abc123"
    assert "abc123" not in repr(resolved)
