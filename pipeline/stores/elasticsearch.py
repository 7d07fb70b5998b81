"""The production store: Elasticsearch behind an alias over versioned indices.

Layout (prefix `newswatch` by default):
  <prefix>-articles          alias for reads and writes (is_write_index on the current version)
  <prefix>-articles-v<N>     the indices; a mapping change is `newswatch es reindex` (new version + alias swap)
  <prefix>-articles          composable index template for <prefix>-articles-* (config/elasticsearch/)
  <prefix>-state             feed validators and health, alert bookkeeping
  <prefix>-alerts            the alert records again, searchable (config/elasticsearch/alerts-index.json)
  <prefix>-feeds             feed health again, searchable (config/elasticsearch/feeds-index.json)
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache, wraps
from itertools import islice
from pathlib import Path
from typing import Any, Literal, TypeVar

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TransportError
from elasticsearch import ApiError, BadRequestError, Elasticsearch, NotFoundError, helpers

from pipeline.config import PROJECT_DIR, ElasticsearchSettings, config_dir
from pipeline.models import Article
from pipeline.stores.base import Hit, StoreError, UpsertResult

log = logging.getLogger(__name__)
FTS_OPERATORS = re.compile(r'"|\*|\b(?:OR|AND|NOT)\b')
SEARCH_FIELDS = ["title^10", "text"]
MAX_RESULTS = 10_000
ENTITY_GROUPS = ("persons", "organisations", "places")
FALLBACK_ANALYZER = {"type": "standard", "stopwords": "_english_"}
UNAVAILABLE = (TransportConnectionError, ConnectionTimeout)
T = TypeVar("T")
FAILURES = (TransportError, ApiError, helpers.ScanError)


def _store_error(exc: Exception) -> StoreError:
    if isinstance(exc, UNAVAILABLE):
        return StoreError(f"Elasticsearch is not reachable: {exc}")
    return StoreError(f"Elasticsearch failed: {type(exc).__name__}: {exc}")


def _guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` with Elasticsearch's transport and API failures raised as StoreError (generators too)."""
    if inspect.isgeneratorfunction(func):

        @wraps(func)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from func(*args, **kwargs)
            except FAILURES as exc:
                raise _store_error(exc) from None

        return generator

    @wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FAILURES as exc:
            raise _store_error(exc) from None

    return call


def store_errors(cls: type[T]) -> type[T]:
    """The one place where Elasticsearch failures become StoreError: every public method of `cls` is guarded,
    so callers (the CLI, the jobs, the pass) know only StoreError. Failures a method expects (a missing
    document, an invalid query string) are handled inside it first."""
    for name, attr in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(attr):
            setattr(cls, name, _guarded(attr))
    return cls


def es_config_dir() -> Path:
    return config_dir() / "elasticsearch"


@cache
def country_centroids() -> dict[str, list[float]]:
    path = es_config_dir() / "country-centroids.json"
    if not path.exists():
        path = PROJECT_DIR / "config" / "elasticsearch" / "country-centroids.json"
    return json.loads(path.read_text(encoding="utf-8"))


def connect(settings: ElasticsearchSettings) -> Elasticsearch:
    """A client from settings; secrets are passed on, never logged."""
    s = settings.resolved()
    kwargs: dict[str, Any] = {
        "request_timeout": s.request_timeout,
        "max_retries": s.max_retries,
        "retry_on_timeout": True,
        "verify_certs": s.verify_certs,
    }
    if s.api_key:
        kwargs["api_key"] = s.api_key.get_secret_value()
    elif s.username and s.password:
        kwargs["basic_auth"] = (s.username, s.password.get_secret_value())
    if s.ca_certs:
        kwargs["ca_certs"] = str(s.ca_certs)
    return Elasticsearch([u.strip() for u in (s.url or "").split(",") if u.strip()], **kwargs)


# State namespaces that are also kept as searchable indices for Kibana (`{prefix}-alerts`, `{prefix}-feeds`),
# with their mappings in config/elasticsearch: alert records (pipeline.alerts.records) and feed health.
VIEWS = {"alert": ("alerts", "alerts-index.json"), "feed": ("feeds", "feeds-index.json")}


LATE_WRITES = timedelta(minutes=10)  # how long before the write index moved a write may still land (clock skew)


def _several_indices(error: Any) -> bool:
    """Whether an mget error is Elasticsearch refusing a single-document read through an alias on several
    indices."""
    return isinstance(error, dict) and "more than one index" in str(error.get("reason", ""))


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


@store_errors
class ElasticsearchStore:
    """Store implementation over Elasticsearch (see the module docstring for the layout)."""

    def __init__(self, client: Elasticsearch, settings: ElasticsearchSettings, *, refresh: bool = True) -> None:
        self.es = client
        self.settings = settings
        self.prefix = settings.index_prefix
        self.alias = f"{self.prefix}-articles"
        self.state_index = f"{self.prefix}-state"
        self.refresh = refresh
        self.analyzer: str | None = None
        self.settle = timedelta(seconds=settings.settle_seconds)
        self.views = {namespace: f"{self.prefix}-{suffix}" for namespace, (suffix, _) in VIEWS.items()}

    @classmethod
    def from_settings(cls, settings: ElasticsearchSettings, *, setup: bool = True) -> ElasticsearchStore:
        store = cls(connect(settings), settings)
        if setup:
            store.setup()
        return store

    # Setup and migration ------------------------------------------------------------------------

    def template_body(self, analyzer: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.loads((es_config_dir() / "index-template.json").read_text(encoding="utf-8"))
        settings = body["template"]["settings"]
        settings.update(
            number_of_shards=self.settings.shards,
            number_of_replicas=self.settings.replicas,
            refresh_interval=self.settings.refresh_interval,
        )
        if analyzer:
            settings["analysis"]["analyzer"]["newswatch_text"] = analyzer
        body["index_patterns"] = [f"{self.prefix}-articles-*"]
        return body

    def setup(self) -> dict[str, str]:
        """Apply the template, create the first index with the alias and the state index; idempotent."""
        report: dict[str, str] = {}
        try:
            report["template"] = self._put_template()
            if self.es.indices.exists_alias(name=self.alias):
                report["index"] = f"exists: {', '.join(self.indices())}"
                report["mapping"] = self._add_new_fields()
            else:
                index = f"{self.alias}-v1"
                self.es.indices.create(index=index, aliases={self.alias: {"is_write_index": True}})
                report["index"] = f"created {index}"
            if self.es.indices.exists(index=self.state_index):
                report["state"] = "exists"
            else:
                state = json.loads((es_config_dir() / "state-index.json").read_text(encoding="utf-8"))
                self.es.indices.create(index=self.state_index, **state)
                report["state"] = f"created {self.state_index}"
            for namespace, (suffix, mapping_file) in VIEWS.items():
                report[suffix] = self._setup_view(self.views[namespace], mapping_file)
        except BadRequestError as exc:
            if "resource_already_exists_exception" not in str(exc):
                raise StoreError(f"Elasticsearch refused the setup: {exc}") from None
            report.setdefault("index", "exists")
        report["analyzer"] = self.analyzer or "english"
        return report

    def _setup_view(self, index: str, mapping_file: str) -> str:
        """Create a searchable view index from its mapping file, or give an existing one the new fields."""
        body = json.loads((es_config_dir() / mapping_file).read_text(encoding="utf-8"))
        if not self.es.indices.exists(index=index):
            self.es.indices.create(index=index, **body)
            return f"created {index}"
        try:
            self.es.indices.put_mapping(index=index, properties=body["mappings"]["properties"])
        except BadRequestError as exc:
            return f"{index}: mapping not updated ({exc.message}): delete the index, the next writes refill it"
        return f"exists: {index}"

    def _put_template(self) -> str:
        try:
            self.es.indices.put_index_template(name=self.alias, **self.template_body())
            self.analyzer = "english"
        except BadRequestError as exc:
            if "Unknown analyzer type [english]" not in str(exc):
                raise
            # Elastic's integration-test distribution lacks the analysis-common module.
            log.info("this node has no 'english' analyzer; using the standard analyzer with English stopwords")
            self.es.indices.put_index_template(name=self.alias, **self.template_body(FALLBACK_ANALYZER))
            self.analyzer = "standard+english stopwords (fallback: no analysis-common module on this node)"
        return "applied"

    def _add_new_fields(self) -> str:
        """Give the existing indices the fields the template added since they were made (new fields only:
        a changed field needs `newswatch es reindex`)."""
        mappings = self.template_body()["template"]["mappings"]
        try:
            self.es.indices.put_mapping(index=self.alias, properties=mappings["properties"])
        except BadRequestError as exc:
            return f"not updated ({exc.message}): run `newswatch es reindex`"
        return "up to date with the template"

    def indices(self) -> list[str]:
        """The concrete indices behind the alias."""
        return sorted(self._aliased())

    def _aliased(self) -> dict[str, Any]:
        """The indices behind the alias, with their alias properties ({} when there is no alias)."""
        try:
            return dict(self.es.indices.get_alias(name=self.alias).body)
        except NotFoundError:
            return {}

    def reindex(self, delete_old: bool = False) -> dict[str, Any]:
        """Copy everything into a new version from the current template without losing a write made meanwhile.

        The alias's write index moves to the new version first, so writers write there from then on; the old
        indices are then copied with `op_type=create`, which never replaces a document written meanwhile (its
        conflict is counted as `newer`), and what was written to them around the move is copied once more, for a
        write that was on its way when the alias moved; last the old indices leave the alias. While the copy runs
        the alias reads both, so a search may show an article written meanwhile twice, and single-document reads
        look in the write index first (`_read_indices`)."""
        self._put_template()
        current = self.indices()
        existing = self.es.indices.get(index=f"{self.alias}-v*", allow_no_indices=True).body
        versions = [int(m.group(1)) for i in existing if (m := re.search(r"-v(\d+)$", i))]
        target = f"{self.alias}-v{max(versions, default=0) + 1}"
        self.es.indices.create(index=target)
        moved: list[dict[str, Any]] = [
            {"add": {"index": i, "alias": self.alias, "is_write_index": False}} for i in current
        ]
        moved.append({"add": {"index": target, "alias": self.alias, "is_write_index": True}})
        moved_at = datetime.now(UTC)
        self.es.indices.update_aliases(actions=moved)
        copied, newer, errors = 0, 0, []
        if current:
            self.es.indices.refresh(index=",".join(current))
            copied, newer, errors = self._copy(current, target, {"match_all": {}})
            # a write that reached an old index just before the move may become visible only now: copy what was
            # written around the move once more (what is there already conflicts and stays)
            self.es.indices.refresh(index=",".join(current))
            since = (moved_at - LATE_WRITES).isoformat()
            late, _, late_errors = self._copy(current, target, {"range": {"indexed_at": {"gte": since}}})
            copied, errors = copied + late, errors + late_errors
        if errors:  # the old indices stay in the alias, so nothing is lost; a rerun copies both into a new version
            raise StoreError(
                f"reindex into {target} rejected {len(errors)} document(s); the alias reads {current + [target]} "
                f"and writes to {target} until a reindex succeeds: {errors[:3]}"
            )
        self.es.indices.refresh(index=target)
        if current:
            self.es.indices.update_aliases(actions=[{"remove": {"index": i, "alias": self.alias}} for i in current])
        if delete_old and current:
            self.es.indices.delete(index=",".join(current))
        return {"from": current, "to": target, "documents": copied, "newer": newer, "kept_old": not delete_old}

    def _copy(self, indices: list[str], target: str, query: dict[str, Any]) -> tuple[int, int, list[Any]]:
        """Copy the documents of `indices` that match `query` into `target` with op_type=create: (created,
        already there (a newer version written meanwhile, or copied before), rejected)."""
        created, there, errors = 0, 0, []
        copies = (
            {"_op_type": "create", "_index": target, "_id": hit["_id"], "_source": hit["_source"]}
            for hit in helpers.scan(self.es, index=",".join(indices), query={"query": query}, size=500)
        )
        for ok, item in helpers.streaming_bulk(
            self.es, copies, chunk_size=self.settings.chunk_size, raise_on_error=False
        ):
            if ok:
                created += 1
            elif item["create"].get("status") == 409:
                there += 1
            else:
                errors.append(item["create"])
        return created, there, errors

    def _read_indices(self) -> list[str]:
        """The indices behind the alias, its write index first: where a single-document read looks while a
        reindex has the alias on more than one index."""
        body = self._aliased()
        return sorted(body, key=lambda i: not body[i]["aliases"][self.alias].get("is_write_index", False))

    # Articles -----------------------------------------------------------------------------------

    def source_json(self, article: Article, indexed_at: datetime) -> str:
        """The indexed document (the article, its indexed_at and its countries' centroids as geo points),
        serialised by pydantic's (Rust) JSON encoder: the bulk helper sends strings as they are, which saves
        most of the serialisation time."""
        body = article.model_copy(update={"indexed_at": indexed_at}).model_dump_json()
        centroids = country_centroids()
        points = [{"lat": centroids[c][0], "lon": centroids[c][1]} for c in article.countries if c in centroids]
        return body[:-1] + ',"country_locations":' + json.dumps(points) + "}"

    def upsert(self, articles: Iterable[Article], known: Mapping[str, str] | None = None) -> Iterator[UpsertResult]:
        wrote = False
        for chunk in _chunks(articles, self.settings.chunk_size):
            results = self._upsert_chunk(chunk, known)
            wrote = wrote or any(r.action in ("created", "updated") for r in results)
            yield from results
        if wrote and self.refresh:  # once per call, so that what was written is searchable when it returns
            self.es.indices.refresh(index=self.alias)

    def _upsert_chunk(self, chunk: list[Article], given: Mapping[str, str] | None) -> list[UpsertResult]:
        known = (
            {a.id: given[a.id] for a in chunk if a.id in given} if given is not None else self.seen(a.id for a in chunk)
        )
        now = datetime.now(UTC)
        by_id = {a.id: a for a in chunk}
        results: dict[str, UpsertResult] = {}
        actions = []
        for article in chunk:
            if known.get(article.id) == article.content_hash:
                results[article.id] = UpsertResult(article.id, "unchanged")
                continue
            try:
                source = self.source_json(article, now)
            except (ValueError, TypeError) as exc:
                results[article.id] = UpsertResult(article.id, "error", f"{type(exc).__name__}: {exc}")
                continue
            actions.append({"_op_type": "index", "_index": self.alias, "_id": article.id, "_source": source})
        for ok, item in helpers.streaming_bulk(
            self.es,
            actions,
            chunk_size=self.settings.chunk_size,
            max_chunk_bytes=self.settings.max_chunk_bytes,
            raise_on_error=False,
            max_retries=5,
            initial_backoff=1,
            max_backoff=30,
        ):
            info = item["index"]
            doc_id = info["_id"]
            if ok:
                by_id[doc_id].indexed_at = now
                results[doc_id] = UpsertResult(doc_id, "updated" if doc_id in known else "created")
            else:
                error = info.get("error", {})
                reason = error.get("reason", error) if isinstance(error, dict) else error
                kind = error.get("type", "error") if isinstance(error, dict) else "error"
                results[doc_id] = UpsertResult(doc_id, "error", f"{kind}: {reason} (HTTP {info.get('status')})")
        return [results[a.id] for a in chunk]

    def seen(self, ids: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(ids, 1000):
            for doc in self._mget(chunk, ["content_hash"]):
                found[doc["_id"]] = doc["_source"]["content_hash"]
        return found

    def _mget(self, ids: list[str], fields: list[str] | None = None) -> list[dict[str, Any]]:
        """The documents found among `ids`, read in real time through the alias; while a reindex has the alias
        on two indices (where Elasticsearch refuses single-document reads), from each, the write index first."""
        options = {"source_includes": fields} if fields else {}
        docs = self.es.mget(index=self.alias, ids=ids, **options)["docs"]
        if not any(_several_indices(d.get("error")) for d in docs):
            return [d for d in docs if d.get("found")]
        found: dict[str, dict[str, Any]] = {}
        for index in self._read_indices():
            missing = [i for i in ids if i not in found]
            if not missing:
                break
            for doc in self.es.mget(index=index, ids=missing, **options)["docs"]:
                if doc.get("found"):
                    found[doc["_id"]] = doc
        return [found[i] for i in ids if i in found]

    def copies_of(self, bands: list[str], limit: int = 1000) -> list[Article]:
        found: dict[str, Article] = {}
        for chunk in _chunks(bands, 10_000):
            response = self.es.search(
                index=self.alias, query={"terms": {"minhash_bands": chunk}}, size=limit, track_total_hits=False
            )
            for hit in response["hits"]["hits"]:
                found[hit["_id"]] = Article.from_doc(hit["_source"])
        return list(found.values())[:limit]

    def get(self, article_id: str) -> Article | None:
        docs = self._mget([article_id])
        return Article.from_doc(docs[0]["_source"]) if docs else None

    def query(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        time_field: Literal["published_at", "indexed_at"] = "published_at",
        concept: str | None = None,
        country: str | None = None,
        event_type: str | None = None,
        feed_id: str | None = None,
        entity: str | None = None,
        language: str | None = None,
        limit: int | None = 100,
    ) -> list[Article]:
        if time_field not in ("published_at", "indexed_at"):
            raise ValueError(f"cannot order by {time_field!r}")
        filters: list[dict[str, Any]] = []
        if since or until:
            bounds = {}
            if since:
                bounds["gte"] = since.isoformat()
            if until:
                bounds["lt"] = until.isoformat()
            filters.append({"range": {time_field: bounds}})
        for field, value in (
            ("concepts", concept),
            ("countries", country),
            ("feed_id", feed_id),
            ("language", language),
        ):
            if value:
                filters.append({"term": {field: value}})
        if entity:  # any of the entity groups, in any case
            groups = [{"term": {f"entities.{g}": {"value": entity, "case_insensitive": True}}} for g in ENTITY_GROUPS]
            filters.append({"bool": {"should": groups, "minimum_should_match": 1}})
        if event_type:  # on the nested events, so that later filters (dyad, ct_relevant) apply to one event
            filters.append({"nested": {"path": "events", "query": {"term": {"events.type": event_type}}}})
        sort = [{time_field: "desc"}, {"id": "asc"}]
        query = {"bool": {"filter": filters}}
        if limit is None:
            hits = helpers.scan(self.es, index=self.alias, query={"query": query, "sort": sort}, preserve_order=True)
            return [Article.from_doc(h["_source"]) for h in hits]
        response = self.es.search(index=self.alias, query=query, sort=sort, size=min(limit, MAX_RESULTS))
        return [Article.from_doc(h["_source"]) for h in response["hits"]["hits"]]

    def search(self, text: str, *, limit: int = 20) -> list[Hit]:
        """Words must all match; OR/AND/NOT, quotes and * are honoured (query_string), plain words if invalid."""
        if not text.strip():
            return []
        plain = {"multi_match": {"query": text, "fields": SEARCH_FIELDS, "operator": "and"}}
        query: dict[str, Any] = plain
        if FTS_OPERATORS.search(text):
            query = {"query_string": {"query": text, "fields": SEARCH_FIELDS, "default_operator": "AND"}}
        highlight = {"fields": {"title": {"number_of_fragments": 0}, "text": {"number_of_fragments": 2}}}
        try:
            response = self.es.search(index=self.alias, query=query, size=limit, highlight=highlight)
        except BadRequestError:
            response = self.es.search(index=self.alias, query=plain, size=limit, highlight=highlight)
        return [
            Hit(Article.from_doc(h["_source"]), h["_score"], [f for fs in h.get("highlight", {}).values() for f in fs])
            for h in response["hits"]["hits"]
        ]

    def count(self, *, feed_id: str | None = None) -> int:
        query = {"term": {"feed_id": feed_id}} if feed_id else {"match_all": {}}
        return int(self.es.count(index=self.alias, query=query)["count"])

    def counts_by_feed(self) -> dict[str, int]:
        response = self.es.search(
            index=self.alias, size=0, aggs={"feeds": {"terms": {"field": "feed_id", "size": MAX_RESULTS}}}
        )
        return {b["key"]: b["doc_count"] for b in response["aggregations"]["feeds"]["buckets"]}

    # State --------------------------------------------------------------------------------------

    def _state_id(self, namespace: str, key: str) -> str:
        return f"{namespace}:{key}"

    def state_get(self, namespace: str, key: str) -> dict[str, Any] | None:
        try:
            return self.es.get(index=self.state_index, id=self._state_id(namespace, key))["_source"]["value"]
        except NotFoundError:
            return None

    def state_put(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        doc = {
            "namespace": namespace,
            "key": key,
            "value": json.loads(json.dumps(value, default=str)),
            "updated_at": datetime.now(UTC).isoformat(),
        }
        self.es.index(index=self.state_index, id=self._state_id(namespace, key), document=doc, refresh=True)
        if namespace in self.views:  # searchable for Kibana: alert records, feed health
            view = {**doc["value"], "key": key, "updated_at": doc["updated_at"]}
            self.es.index(index=self.views[namespace], id=key, document=view, refresh=True)

    def state_items(self, namespace: str) -> dict[str, dict[str, Any]]:
        hits = helpers.scan(
            self.es,
            index=self.state_index,
            query={"query": {"term": {"namespace": namespace}}, "sort": ["key"]},
            preserve_order=True,
        )
        return {h["_source"]["key"]: h["_source"]["value"] for h in hits}

    def state_delete(self, namespace: str, key: str) -> None:
        try:
            self.es.delete(index=self.state_index, id=self._state_id(namespace, key), refresh=True)
        except NotFoundError:
            pass
        if namespace in self.views:
            try:
                self.es.delete(index=self.views[namespace], id=key, refresh=True)
            except NotFoundError:
                pass

    def close(self) -> None:
        self.es.close()

    def drop(self) -> None:
        """Delete every index, alias and the template of this prefix (tests)."""
        views = ",".join(self.views.values())
        self.es.indices.delete(index=f"{self.prefix}-articles-*,{self.state_index},{views}", ignore_unavailable=True)
        try:
            self.es.indices.delete_index_template(name=self.alias)
        except NotFoundError:
            pass
