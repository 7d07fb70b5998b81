"""The embedded default store: one SQLite file, WAL mode, FTS5 over title and text."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from pipeline.models import Article
from pipeline.stores.base import Hit, StoreError, UpsertResult

SCHEMA_VERSION = 1
FTS_OPERATORS = re.compile(r'"|\*|\b(?:OR|AND|NOT|NEAR)\b')
CHUNK = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    feed_id TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    published_at TEXT NOT NULL,
    indexed_at TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published_at);
CREATE INDEX IF NOT EXISTS articles_indexed ON articles(indexed_at);
CREATE INDEX IF NOT EXISTS articles_feed ON articles(feed_id);
CREATE VIRTUAL TABLE IF NOT EXISTS articles_fts USING fts5(
    title, text, content='articles', content_rowid='pk', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS articles_ai AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts(rowid, title, text) VALUES (new.pk, new.title, new.text);
END;
CREATE TRIGGER IF NOT EXISTS articles_ad AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts(articles_fts, rowid, title, text) VALUES ('delete', old.pk, old.title, old.text);
END;
CREATE TRIGGER IF NOT EXISTS articles_au AFTER UPDATE ON articles BEGIN
    INSERT INTO articles_fts(articles_fts, rowid, title, text) VALUES ('delete', old.pk, old.title, old.text);
    INSERT INTO articles_fts(rowid, title, text) VALUES (new.pk, new.title, new.text);
END;
CREATE TABLE IF NOT EXISTS article_bands (
    band TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (band, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS article_bands_id ON article_bands(id);
CREATE TRIGGER IF NOT EXISTS articles_bands_ad AFTER DELETE ON articles BEGIN
    DELETE FROM article_bands WHERE id = old.id;
END;
CREATE TABLE IF NOT EXISTS state (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
);
"""

UPSERT = """
INSERT INTO articles (id, feed_id, title, text, published_at, indexed_at, content_hash, doc)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(id) DO UPDATE SET
    feed_id = excluded.feed_id, title = excluded.title, text = excluded.text,
    published_at = excluded.published_at, indexed_at = excluded.indexed_at,
    content_hash = excluded.content_hash, doc = excluded.doc
"""


def ts(value: datetime) -> str:
    """A sortable UTC timestamp with a fixed width, so that string order is time order."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class SQLiteStore:
    """Store implementation over one SQLite database file."""

    settle = timedelta(0)  # indexed_at is stamped under the write lock, so commits appear in stamp order

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=30000")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path}: schema version {version} is newer than this Newswatch knows")
            self.db.executescript(SCHEMA)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from None

    # Articles -----------------------------------------------------------------------------------

    def upsert(self, articles: Iterable[Article], known: Mapping[str, str] | None = None) -> Iterator[UpsertResult]:
        for chunk in _chunks(articles, CHUNK):
            yield from self._upsert_chunk(chunk, known)

    def _upsert_chunk(self, chunk: list[Article], given: Mapping[str, str] | None) -> list[UpsertResult]:
        known = (
            {a.id: given[a.id] for a in chunk if a.id in given} if given is not None else self.seen(a.id for a in chunk)
        )
        results = []
        self.db.execute("BEGIN IMMEDIATE")
        now = datetime.now(UTC)  # stamped under the write lock: commit order is stamp order (settle = 0)
        try:
            for article in chunk:
                if known.get(article.id) == article.content_hash:
                    results.append(UpsertResult(article.id, "unchanged"))
                    continue
                try:
                    doc = article.model_copy(update={"indexed_at": now})
                    self.db.execute(
                        UPSERT,
                        (
                            doc.id,
                            doc.feed_id,
                            doc.title,
                            doc.text,
                            ts(doc.published_at),
                            ts(now),
                            doc.content_hash,
                            json.dumps(doc.to_doc(), ensure_ascii=False),
                        ),
                    )
                    self.db.execute("DELETE FROM article_bands WHERE id = ?", (doc.id,))
                    self.db.executemany(
                        "INSERT OR IGNORE INTO article_bands (band, id) VALUES (?, ?)",
                        [(band, doc.id) for band in doc.minhash_bands],
                    )
                except (sqlite3.Error, ValueError, TypeError) as exc:
                    results.append(UpsertResult(article.id, "error", f"{type(exc).__name__}: {exc}"))
                    continue
                article.indexed_at = now
                results.append(UpsertResult(article.id, "updated" if article.id in known else "created"))
                known[article.id] = article.content_hash
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return results

    def seen(self, ids: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(ids, CHUNK):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT id, content_hash FROM articles WHERE id IN ({marks})", chunk)
            found.update(rows.fetchall())
        return found

    def copies_of(self, bands: list[str], limit: int = 1000) -> list[Article]:
        found: dict[str, Article] = {}
        for chunk in _chunks(bands, CHUNK):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT doc FROM articles WHERE id IN (SELECT id FROM article_bands WHERE band IN ({marks})) LIMIT ?",
                [*chunk, limit],
            )
            for (doc,) in rows:
                article = Article.from_json(doc)
                found[article.id] = article
        return list(found.values())[:limit]

    def get(self, article_id: str) -> Article | None:
        row = self.db.execute("SELECT doc FROM articles WHERE id = ?", (article_id,)).fetchone()
        return Article.from_json(row[0]) if row else None

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
        where, params = ["1"], []
        if since:
            where.append(f"{time_field} >= ?")
            params.append(ts(since))
        if until:
            where.append(f"{time_field} < ?")
            params.append(ts(until))
        if feed_id:
            where.append("feed_id = ?")
            params.append(feed_id)
        for path, value in (("$.concepts", concept), ("$.countries", country), ("$.event_types", event_type)):
            if value:
                where.append(f"EXISTS (SELECT 1 FROM json_each(doc, '{path}') WHERE value = ?)")
                params.append(value)
        if entity:
            where.append("EXISTS (SELECT 1 FROM json_tree(doc, '$.entities') WHERE type = 'text' AND lower(value) = ?)")
            params.append(entity.lower())
        if language:
            where.append("json_extract(doc, '$.language') = ?")
            params.append(language)
        sql = f"SELECT doc FROM articles WHERE {' AND '.join(where)} ORDER BY {time_field} DESC, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [Article.from_json(row[0]) for row in self.db.execute(sql, params)]

    def search(self, text: str, *, limit: int = 20) -> list[Hit]:
        """FTS5 search. Plain words must all match (any order); a query with FTS5 operators
        (OR, AND, NOT, NEAR, quotes, prefix*) is passed on as it is, and as plain words if invalid."""
        sql = (
            "SELECT a.doc, -bm25(articles_fts, 10.0, 1.0) AS score FROM articles_fts "
            "JOIN articles a ON a.pk = articles_fts.rowid WHERE articles_fts MATCH ? ORDER BY score DESC LIMIT ?"
        )
        if not text.strip():
            return []
        plain = " ".join('"' + t.replace('"', '""') + '"' for t in text.split())
        expression = text if FTS_OPERATORS.search(text) else plain
        try:
            rows = self.db.execute(sql, (expression, limit)).fetchall()
        except sqlite3.OperationalError:
            rows = self.db.execute(sql, (plain, limit)).fetchall()
        return [Hit(Article.from_json(doc), score) for doc, score in rows]

    def count(self, *, feed_id: str | None = None) -> int:
        if feed_id:
            return self.db.execute("SELECT count(*) FROM articles WHERE feed_id = ?", (feed_id,)).fetchone()[0]
        return self.db.execute("SELECT count(*) FROM articles").fetchone()[0]

    def counts_by_feed(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT feed_id, count(*) FROM articles GROUP BY feed_id").fetchall())

    # State --------------------------------------------------------------------------------------

    def state_get(self, namespace: str, key: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT value FROM state WHERE namespace = ? AND key = ?", (namespace, key)).fetchone()
        return json.loads(row[0]) if row else None

    def state_put(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO state (namespace, key, value, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (namespace, key, json.dumps(value, default=str), ts(datetime.now(UTC))),
        )

    def state_items(self, namespace: str) -> dict[str, dict[str, Any]]:
        rows = self.db.execute("SELECT key, value FROM state WHERE namespace = ? ORDER BY key", (namespace,))
        return {key: json.loads(value) for key, value in rows}

    def state_delete(self, namespace: str, key: str) -> None:
        self.db.execute("DELETE FROM state WHERE namespace = ? AND key = ?", (namespace, key))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
