"""The production store: Elasticsearch behind an alias over versioned indices.

Layout (prefix `newswatch` by default):
  <prefix>-articles                  alias over every month, for reads (search, count, get, Kibana)
  <prefix>-articles-YYYY.MM          one alias a month, for writes (is_write_index on the month's current version)
  <prefix>-articles-YYYY.MM-v<N>     the indices: an article is filed under the month it was published in, so
                                     old months can be dropped (`newswatch es prune`); a mapping change is
                                     `newswatch es reindex` (a new version of every month + alias swap)
  <prefix>-articles                  composable index template for <prefix>-articles-* (config/elasticsearch/)
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
AGE_UNITS = {"d": "days", "w": "weeks", "m": "months", "y": "years"}


def month_of(published_at: datetime, fetched_at: datetime) -> str:
    """The month an article is filed under ("2026.11"): the month it was published in, or the month it was fetched
    in when its feed dates it later than that (a wrong clock)."""
    return min(published_at, fetched_at).astimezone(UTC).strftime("%Y.%m")


def months_before(spec: str, now: datetime) -> str:
    """The first month ("YYYY.MM") that `es prune --older-than SPEC` keeps. SPEC is a month ("2025-06": drop the
    months before it) or an age ("90d", "8w", "18m", "2y": drop the months that ended longer ago than that)."""
    spec = spec.strip().lower()
    if m := re.fullmatch(r"(\d{4})-(\d{2})", spec):
        if not 1 <= int(m.group(2)) <= 12:
            raise ValueError(f"{spec!r}: no such month")
        return f"{m.group(1)}.{m.group(2)}"
    if not (m := re.fullmatch(r"(\d+)\s*([dwmy])", spec)):
        raise ValueError(f"{spec!r}: give a month (2025-06) or an age such as 90d, 8w, 18m, 2y")
    n, unit = int(m.group(1)), AGE_UNITS[m.group(2)]
    if unit in ("days", "weeks"):
        return month_of(now - timedelta(**{unit: n}), now)
    months = now.year * 12 + now.month - 1 - n * (12 if unit == "years" else 1)
    return f"{months // 12:04d}.{months % 12 + 1:02d}"


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
        self.monthly = re.compile(rf"^{re.escape(self.alias)}-(\d{{4}}\.\d{{2}})-v(\d+)$")
        self._months: set[str] = set()  # month aliases known to exist

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
        body["template"]["aliases"] = {self.alias: {}}  # every month is read through the alias from its creation
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
                self._month_alias(datetime.now(UTC).strftime("%Y.%m"))
                report["index"] = f"created {', '.join(self.indices())}"
            if self.es.indices.exists(index=self.state_index):
                report["state"] = "exists"
            else:
                self.es.indices.create(index=self.state_index, **self._index_body("state-index.json"))
                report["state"] = f"created {self.state_index}"
            for namespace, (suffix, mapping_file) in VIEWS.items():
                report[suffix] = self._setup_view(self.views[namespace], mapping_file)
            report["replicas"] = self._set_replicas()
        except BadRequestError as exc:
            if "resource_already_exists_exception" not in str(exc):
                raise StoreError(f"Elasticsearch refused the setup: {exc}") from None
            report.setdefault("index", "exists")
        report["analyzer"] = self.analyzer or "english"
        return report

    def _index_body(self, mapping_file: str) -> dict[str, Any]:
        """An index's body from its file in config/elasticsearch, with the replicas of the settings."""
        body = json.loads((es_config_dir() / mapping_file).read_text(encoding="utf-8"))
        body.setdefault("settings", {})["number_of_replicas"] = self.settings.replicas
        return body

    def _set_replicas(self) -> str:
        """Every index of this prefix (months, state, views) keeps `replicas` copies of each shard: a changed
        setting applies to the existing indices too (the state index holds the feeds' and alerts' records, so it
        must survive a node as the articles do)."""
        self.es.indices.put_settings(
            index=[self.alias, self.state_index, *self.views.values()],
            settings={"index": {"number_of_replicas": self.settings.replicas}},
        )
        return str(self.settings.replicas)

    def _setup_view(self, index: str, mapping_file: str) -> str:
        """Create a searchable view index from its mapping file, or give an existing one the new fields."""
        body = self._index_body(mapping_file)
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
        try:
            return sorted(self.es.indices.get_alias(name=self.alias).body)
        except NotFoundError:
            return []

    def _month(self, index: str) -> str | None:
        """The month ("2026.11") of a monthly index, None for an index from before monthly indices."""
        m = self.monthly.match(index)
        return m.group(1) if m else None

    def _month_alias(self, month: str) -> str:
        """The write alias of a month ("2026.11"), its first index made (from the template) if it has none."""
        alias = f"{self.alias}-{month}"
        if alias not in self._months and not self.es.indices.exists_alias(name=alias):
            try:
                self.es.indices.create(index=f"{alias}-v1", aliases={alias: {"is_write_index": True}})
            except BadRequestError as exc:  # another writer made it first
                if "resource_already_exists_exception" not in str(exc):
                    raise
        self._months.add(alias)
        return alias

    def alias_for(self, article: Article) -> str:
        """The write alias a new article goes to: its month's."""
        return self._month_alias(month_of(article.published_at, article.fetched_at))

    def reindex(self, delete_old: bool = False) -> dict[str, Any]:
        """Copy everything into a new version of every month from the current template, without losing a write
        made meanwhile.

        Each month's write alias moves to its new version first (one atomic alias update), so writers write there
        from then on; the old indices are then copied with `op_type=create`, which never replaces a document
        written meanwhile (its conflict is counted as `newer`), and what was written to them around the move is
        copied once more, for a write that was on its way when the alias moved; last the old indices leave the
        aliases. An index from before monthly indices (`<prefix>-articles-v<N>`) is copied into the months of
        its articles. While the copy runs the alias reads old and new, so a search may show an article written
        meanwhile twice; single-article reads take the copy indexed last (`_locate`)."""
        self._put_template()
        current = self.indices()
        versions: dict[str, int] = {}
        for index in self.es.indices.get(index=f"{self.alias}-*", allow_no_indices=True).body:
            if m := self.monthly.match(index):
                versions[m.group(1)] = max(versions.get(m.group(1), 0), int(m.group(2)))
        months: dict[str, list[str]] = {}
        for index in current:
            if month := self._month(index):
                months.setdefault(month, []).append(index)
        targets: dict[str, str] = {}  # old monthly index -> its month's new version
        moves: list[dict[str, Any]] = []
        for month, olds in months.items():
            alias, target = f"{self.alias}-{month}", f"{self.alias}-{month}-v{versions[month] + 1}"
            self.es.indices.create(index=target)
            moves.append({"add": {"index": target, "alias": alias, "is_write_index": True}})
            moves += [{"add": {"index": old, "alias": alias, "is_write_index": False}} for old in olds]
            targets.update(dict.fromkeys(olds, target))
        moved_at = datetime.now(UTC)
        if moves:
            self.es.indices.update_aliases(actions=moves)
        copied, newer, errors = 0, 0, []
        if current:
            self.es.indices.refresh(index=",".join(current))
            copied, newer, errors = self._copy(current, targets, {"match_all": {}})
            # a write that reached an old index just before the move may become visible only now: copy what was
            # written around the move once more (what is there already conflicts and stays)
            self.es.indices.refresh(index=",".join(current))
            since = (moved_at - LATE_WRITES).isoformat()
            late, _, late_errors = self._copy(current, targets, {"range": {"indexed_at": {"gte": since}}})
            copied, errors = copied + late, errors + late_errors
        new = [i for i in self.indices() if i not in current]
        if errors:  # the old indices stay in the aliases, so nothing is lost; a rerun copies both into a new version
            raise StoreError(
                f"reindex into {', '.join(new)} rejected {len(errors)} document(s); the alias reads "
                f"{', '.join(current + new)} until a reindex succeeds: {errors[:3]}"
            )
        self.es.indices.refresh(index=self.alias)
        if current:
            self.es.indices.update_aliases(
                actions=[{"remove": {"index": i, "alias": f"{self.alias}*"}} for i in current]
            )
        if delete_old and current:
            self.es.indices.delete(index=",".join(current))
        return {"from": current, "to": new, "documents": copied, "newer": newer, "kept_old": not delete_old}

    def _copy(self, indices: list[str], targets: dict[str, str], query: dict[str, Any]) -> tuple[int, int, list[Any]]:
        """Copy the documents of `indices` that match `query` with op_type=create: a monthly index's into its
        month's new version (`targets`), an older index's into the month of each article. Returns (created,
        already there (a newer version written meanwhile, or copied before), rejected)."""
        created, there, errors = 0, 0, []

        def copies() -> Iterator[dict[str, Any]]:
            for hit in helpers.scan(self.es, index=",".join(indices), query={"query": query}, size=500):
                source = hit["_source"]
                published, fetched = (datetime.fromisoformat(source[k]) for k in ("published_at", "fetched_at"))
                target = targets.get(hit["_index"]) or self._month_alias(month_of(published, fetched))
                yield {"_op_type": "create", "_index": target, "_id": hit["_id"], "_source": source}

        for ok, item in helpers.streaming_bulk(
            self.es, copies(), chunk_size=self.settings.chunk_size, raise_on_error=False
        ):
            if ok:
                created += 1
            elif item["create"].get("status") == 409:
                there += 1
            else:
                errors.append(item["create"])
        return created, there, errors

    def prune(self, keep_from: str, *, dry_run: bool = False) -> dict[str, list[str]]:
        """Delete the indices of the months before `keep_from` ("YYYY.MM"), with old versions a reindex kept. An
        index from before monthly indices holds every month and is never pruned: `es reindex` spreads it into
        months first. Returns the indices deleted (or, dry, that would be) and those that are not monthly."""
        indices = sorted(self.es.indices.get(index=f"{self.alias}-*", allow_no_indices=True).body)
        dropped = [i for i in indices if (month := self._month(i)) and month < keep_from]
        if dropped and not dry_run:
            self.es.indices.delete(index=",".join(dropped))
            self._months.clear()
        return {"deleted": dropped, "not_monthly": [i for i in indices if not self._month(i)]}

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
        if given is None:
            hits = self._locate([a.id for a in chunk], ["content_hash"])
            known = {i: h["_source"]["content_hash"] for i, h in hits.items()}
        else:  # the caller's hashes; only what changed needs finding, to be written where it is
            known = {a.id: given[a.id] for a in chunk if a.id in given}
            hits = self._locate([a.id for a in chunk if known.get(a.id, a.content_hash) != a.content_hash], [])
        now = datetime.now(UTC)
        by_id = {a.id: a for a in chunk}
        results: dict[str, UpsertResult] = {}
        actions = []
        older: dict[str, str] = {}
        for article in chunk:
            if known.get(article.id) == article.content_hash:
                results[article.id] = UpsertResult(article.id, "unchanged")
                continue
            try:
                source = self.source_json(article, now)
            except (ValueError, TypeError) as exc:
                results[article.id] = UpsertResult(article.id, "error", f"{type(exc).__name__}: {exc}")
                continue
            where = hits[article.id]["_index"] if article.id in hits else None
            month = self._month(where) if where else None  # a later version goes where the first one is
            target = self._month_alias(month) if month else self.alias_for(article)
            actions.append({"_op_type": "index", "_index": target, "_id": article.id, "_source": source})
            if where and not month:  # an older copy in an index from before monthly indices: moved to its month
                older[article.id] = where
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
        moved = [{"_op_type": "delete", "_index": older[i], "_id": i} for i in older if results[i].ok]
        for _ in helpers.streaming_bulk(self.es, moved, raise_on_error=False):
            pass  # a copy already gone (404) is what was wanted
        return [results[a.id] for a in chunk]

    def seen(self, ids: Iterable[str]) -> dict[str, str]:
        return {i: h["_source"]["content_hash"] for i, h in self._locate(list(ids), ["content_hash"]).items()}

    def _locate(self, ids: list[str], fields: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """The hits of the stored articles among `ids`, each with its `_index` and the `fields` of its source (all
        when None), searched through the alias, which every write refreshes before it returns. An article in two
        indices (during a reindex, or in an index from before monthly indices and in its month) is the copy
        indexed last, the monthly one when they tie."""
        found: dict[str, dict[str, Any]] = {}
        source: Any = [*fields, "indexed_at"] if fields is not None else True
        for chunk in _chunks(ids, 1000):
            response = self.es.search(
                index=self.alias, query={"ids": {"values": chunk}}, size=2 * len(chunk), source=source
            )
            for hit in response["hits"]["hits"]:
                rank = (hit["_source"].get("indexed_at") or "", self._month(hit["_index"]) is not None)
                if hit["_id"] not in found or rank > found[hit["_id"]]["rank"]:
                    found[hit["_id"]] = {**hit, "rank": rank}
        return found

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
        hit = self._locate([article_id]).get(article_id)
        return Article.from_doc(hit["_source"]) if hit else None

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
