"""Where Articles and pipeline state are kept. `open_store(url)` picks the implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.stores.base import Store, StoreError, UpsertResult

if TYPE_CHECKING:
    from pipeline.config import Settings


def open_configured_store(settings: Settings) -> Store:
    """The store the settings name: SQLite under NEWSWATCH_HOME, or Elasticsearch (template and alias applied)."""
    if settings.store == "elasticsearch":
        from pipeline.stores.elasticsearch import ElasticsearchStore

        return ElasticsearchStore.from_settings(settings.elasticsearch)
    return open_store(settings.store_location)


def open_store(url: str) -> Store:
    """A store from a URL: `sqlite:///path/to/file.db` (the embedded default)."""
    if url.startswith("sqlite:///") or url == "sqlite://:memory:":
        from pipeline.stores.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ":memory:")
    raise StoreError(f"unknown store URL {url!r}: expected sqlite:///PATH")


__all__ = ["Store", "StoreError", "UpsertResult", "open_configured_store", "open_store"]
