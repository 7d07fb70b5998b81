"""Kibana dashboards as code: the saved objects in config/kibana/newswatch.ndjson, checked against the
index template's mapping and imported with Kibana's saved-objects import API.

The data view points at the article alias with `published_at` as its time field; every visualization,
map, saved search and the "Counter-terrorism monitor" dashboard reference it by id. Edit them in Kibana,
then export them (Stack Management -> Saved objects -> Export) over this file.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pipeline.config import ConfigError, KibanaSettings, config_dir, redact_url

FIELD_KEYS = ("field", "geoField", "timeField", "sourceField", "term")


class KibanaError(Exception):
    """Kibana cannot be reached, refuses the login, or rejects the request; the message says why (never a secret)."""


class KibanaLoginRefused(KibanaError):
    """Kibana answered 401/403: waiting longer will not help."""


def kibana_dir() -> Path:
    return config_dir() / "kibana"


def objects_path() -> Path:
    return kibana_dir() / "newswatch.ndjson"


def rule_path() -> Path:
    return kibana_dir() / "ct-agreement-rule.json"


# --- the saved objects, as data ----------------------------------------------------------------------


def load_objects(path: Path | None = None) -> list[dict[str, Any]]:
    """The saved objects of an export file (NDJSON), each with type, id and attributes; ConfigError names the line."""
    path = path or objects_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    objects = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
        if "exportedCount" in obj:  # the summary line Kibana appends to an export
            continue
        missing = [key for key in ("type", "id", "attributes") if key not in obj]
        if missing:
            raise ConfigError(f"{path}:{number}: saved object without {', '.join(missing)}")
        objects.append(obj)
    return objects


# Each data view of the saved objects and the mapping (config/elasticsearch) of what it reads.
DATA_VIEWS = {
    "newswatch-articles": "index-template.json",
    "newswatch-alerts": "alerts-index.json",
    "newswatch-feeds": "feeds-index.json",
}


def data_view_fields(folder: Path) -> dict[str, dict[str, str]]:
    """The fields of every data view (DATA_VIEWS), read from the mappings in `folder`; ConfigError names the file."""
    fields = {}
    for view, name in DATA_VIEWS.items():
        path = folder / name
        try:
            fields[view] = mapping_fields(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"{path}: not a readable mapping: {exc}") from None
    return fields


def mapping_fields(template: dict[str, Any]) -> dict[str, str]:
    """Every field path of an index template's (or an index's) mapping with its type (objects and nested
    included)."""

    def walk(properties: dict[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
        for name, spec in properties.items():
            path = f"{prefix}{name}"
            yield path, spec.get("type", "object")
            yield from walk(spec.get("properties", {}), f"{path}.")
            for sub, sub_spec in spec.get("fields", {}).items():  # multi-fields such as title.keyword
                yield f"{path}.{sub}", sub_spec.get("type", "keyword")

    return dict(walk(template.get("template", template)["mappings"]["properties"], ""))


_KQL_FIELD = re.compile(r"([A-Za-z_@][\w.@]*)\s*:\s*(\{)?")


def kql_fields(query: str) -> set[str]:
    """Field names a KQL query uses; `events:{ type: x }` (a nested query) gives events and events.type."""
    fields: set[str] = set()
    prefixes: list[str] = []
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)  # quoted values never hold field names
    position = 0
    for match in _KQL_FIELD.finditer(text):
        # close the nested scopes that ended before this match
        closed = text.count("}", position, match.start())
        for _ in range(min(closed, len(prefixes))):
            prefixes.pop()
        position = match.end()
        name = ".".join([*prefixes, match.group(1)])
        fields.add(name)
        if match.group(2):
            prefixes.append(name)
    return fields


def _json_attr(obj: dict[str, Any], key: str, default: Any) -> Any:
    value = obj["attributes"].get(key)
    if value is None:
        return default
    return json.loads(value) if isinstance(value, str) else value


def _search_source(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["attributes"].get("kibanaSavedObjectMeta") or {}
    raw = meta.get("searchSourceJSON") or "{}"
    return json.loads(raw) if isinstance(raw, str) else raw


def _query_fields(query: Any) -> set[str]:
    if isinstance(query, dict) and query.get("language", "kuery") == "kuery":
        return kql_fields(str(query.get("query", "")))
    return set()


def _items(data: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair anywhere in nested dicts and lists."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield key, value
            yield from _items(value)
    elif isinstance(data, list):
        for item in data:
            yield from _items(item)


def _values_of_keys(data: Any, keys: Iterable[str]) -> Iterator[str]:
    """Every string value under one of `keys`, anywhere in nested dicts and lists."""
    return (value for key, value in _items(data) if key in keys and isinstance(value, str))


def fields_used(obj: dict[str, Any]) -> set[str]:
    """The index fields a saved object relies on (data view time field and formats, aggregation fields,
    saved-search columns and sort, map geo fields and tooltips, KQL queries)."""
    attrs = obj["attributes"]
    used: set[str] = set(_query_fields(_search_source(obj).get("query")))
    match obj["type"]:
        case "index-pattern":
            used |= {attrs["timeFieldName"]} if attrs.get("timeFieldName") else set()
            used |= set(_json_attr(obj, "fieldFormatMap", {}))
        case "visualization":
            for agg in _json_attr(obj, "visState", {}).get("aggs", []):
                used |= set(_values_of_keys(agg.get("params", {}), FIELD_KEYS))
        case "search":
            used |= {c for c in attrs.get("columns", []) if c != "_source"}
            used |= {s[0] for s in attrs.get("sort", []) if s}
        case "map":
            for layer in _json_attr(obj, "layerListJSON", []):
                source = layer.get("sourceDescriptor", {})
                used |= set(_values_of_keys(source, FIELD_KEYS))
                used |= set(source.get("tooltipProperties", []) if source.get("type", "").startswith("ES_") else [])
                for join in layer.get("joins", []):
                    used |= set(_values_of_keys(join.get("right", {}), FIELD_KEYS))
            used |= _query_fields(_json_attr(obj, "mapStateJSON", {}).get("query"))
    return used


def _ref_names(obj: dict[str, Any]) -> set[str]:
    """The reference names an object's JSON points through (indexRefName, panelRefName, indexPatternRefName)."""
    names = set(_values_of_keys(_search_source(obj), ("indexRefName",)))
    if obj["type"] == "dashboard":
        names |= {p["panelRefName"] for p in _json_attr(obj, "panelsJSON", []) if "panelRefName" in p}
    if obj["type"] == "map":
        names |= set(_values_of_keys(_json_attr(obj, "layerListJSON", []), ("indexPatternRefName",)))
    return names


def _data_views(obj: dict[str, Any]) -> list[str]:
    """The data views an object reads: itself, or those it references."""
    if obj["type"] == "index-pattern":
        return [obj["id"]]
    return [r["id"] for r in obj.get("references", []) if r["type"] == "index-pattern"]


def check_objects(objects: list[dict[str, Any]], fields: dict[str, dict[str, str]]) -> list[str]:
    """Problems that would break the import or a panel: duplicate ids, references to objects not in the
    file, reference names with no reference, data views with no known mapping, fields the mapping of the
    object's data view does not have. `fields`: per data view id, its mapping's fields. Empty when all is
    well."""
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        key = (obj["type"], obj["id"])
        if key in seen:
            problems.append(f"{obj['type']} {obj['id']}: appears twice")
        seen.add(key)
    for obj in objects:
        label = f"{obj['type']} {obj['id']}"
        references = obj.get("references", [])
        for ref in references:
            if (ref["type"], ref["id"]) not in seen:
                problems.append(f"{label}: reference {ref['name']} -> {ref['type']} {ref['id']} is not in the file")
        for name in sorted(_ref_names(obj) - {r["name"] for r in references}):
            problems.append(f"{label}: uses reference {name} but has no such reference")
        views = _data_views(obj)
        for view in views:
            if view not in fields:
                problems.append(f"{label}: data view {view} has no known mapping")
        known = {name for view in views for name in fields.get(view, {})}
        for name in sorted(fields_used(obj)):
            if name not in known:
                problems.append(f"{label}: field {name} is not in the mapping of {', '.join(views) or 'its data view'}")
    return problems


def rule_fields_used(rule: dict[str, Any]) -> set[str]:
    """The index fields an Elasticsearch query rule relies on: its time field and the fields of its query."""
    params = rule.get("params", {})
    used = {params["timeField"]} if params.get("timeField") else set()
    query = json.loads(params.get("esQuery") or "{}")
    used |= set(_values_of_keys(query, ("path",)))
    for key, clause in _items(query):
        if key in ("term", "terms", "match", "range") and isinstance(clause, dict):
            used |= set(clause)
        elif key == "exists" and isinstance(clause, dict):
            used.add(clause["field"])
    return used


# --- talking to Kibana -------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What Kibana did with each object of the file."""

    created: list[dict[str, str]] = field(default_factory=list)
    overwritten: list[dict[str, str]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    rule: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def _client(settings: KibanaSettings, *, in_space: bool = True) -> httpx.Client:
    """A client for Kibana's API; with `in_space`, paths are under the configured space (/s/<space>)."""
    headers = {"kbn-xsrf": "newswatch"}
    auth: tuple[str, str] | None = None
    if settings.api_key is not None:
        headers["Authorization"] = f"ApiKey {settings.api_key.get_secret_value()}"
    elif settings.username:
        auth = (settings.username, settings.password.get_secret_value() if settings.password else "")
    verify: Any = str(settings.ca_certs) if settings.ca_certs else settings.verify_certs
    base = (settings.url or "").rstrip("/") + (f"/s/{settings.space}" if settings.space and in_space else "")
    return httpx.Client(base_url=base, headers=headers, auth=auth, verify=verify, timeout=settings.timeout)


def _request(client: httpx.Client, settings: KibanaSettings, method: str, path: str, **kwargs: Any) -> httpx.Response:
    where = redact_url(settings.url or "")
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise KibanaError(f"cannot reach Kibana at {where}: {type(exc).__name__}: {exc}") from None
    if response.status_code in (401, 403):
        raise KibanaLoginRefused(
            f"Kibana at {where} refused the login (HTTP {response.status_code}): set KIBANA_USERNAME and "
            "KIBANA_PASSWORD, or KIBANA_API_KEY, for a user allowed to manage saved objects"
        )
    return response


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("message") or body.get("error") or body)[:300] if isinstance(body, dict) else str(body)[:300]


def wait_until_available(settings: KibanaSettings, timeout: float, interval: float = 5.0) -> None:
    """Poll Kibana's status API until it reports available (or degraded), at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with _client(settings, in_space=False) as client:  # the status API is Kibana-wide
        while True:
            try:
                response = _request(client, settings, "GET", "/api/status")
                level = (
                    response.json().get("status", {}).get("overall", {}).get("level")
                    if response.status_code == 200
                    else None
                )
                if level in ("available", "degraded"):
                    return
                last = f"HTTP {response.status_code}" + (f", status {level}" if level else "")
            except KibanaLoginRefused:
                raise
            except KibanaError as exc:
                last = str(exc)
            except ValueError:
                last = "status is not JSON"
            if time.monotonic() + interval > deadline:
                raise KibanaError(f"Kibana not available after {timeout:.0f} s ({last})")
            time.sleep(interval)


def _row(item: dict[str, Any]) -> dict[str, str]:
    meta = item.get("meta") or {}
    return {"type": item.get("type", ""), "id": item.get("id", ""), "title": meta.get("title") or item.get("title", "")}


def import_objects(settings: KibanaSettings, path: Path | None = None, *, overwrite: bool = True) -> ImportReport:
    """POST the saved-objects file to Kibana's import API; one row per object in the report."""
    path = path or objects_path()
    load_objects(path)  # a broken file is a configuration error, before anything is sent
    report = ImportReport()
    with _client(settings) as client:
        response = _request(
            client,
            settings,
            "POST",
            "/api/saved_objects/_import",
            params={"overwrite": "true" if overwrite else "false"},
            files={"file": (path.name, path.read_bytes(), "application/ndjson")},
        )
        if response.status_code != 200:
            raise KibanaError(f"Kibana rejected the import (HTTP {response.status_code}): {_message(response)}")
        body = response.json()
    for item in body.get("successResults", []):
        (report.overwritten if item.get("overwrite") else report.created).append(_row(item))
    for item in body.get("errors", []):
        error = item.get("error") or {}
        reason = error.get("type", "error")
        if error.get("references"):
            reason += ": " + ", ".join(f"{r.get('type')} {r.get('id')}" for r in error["references"])
        elif error.get("message"):
            reason += f": {error['message']}"
        report.errors.append({**_row(item), "error": reason})
    return report


def create_rule(settings: KibanaSettings, path: Path | None = None, rule_id: str = "newswatch-ct-agreements") -> str:
    """Create the Kibana alerting rule of `path` (an Elasticsearch query rule) under `rule_id`.

    Returns 'created' or 'exists'."""
    path = path or rule_path()
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable JSON rule: {exc}") from None
    with _client(settings) as client:
        response = _request(client, settings, "POST", f"/api/alerting/rule/{rule_id}", json=body)
    if response.status_code == 409:
        return "exists"
    if response.status_code != 200:
        raise KibanaError(f"Kibana rejected the alerting rule (HTTP {response.status_code}): {_message(response)}")
    return "created"
