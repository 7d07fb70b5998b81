"""Where Articles and pipeline state are kept. `open_store(url)` picks the implementation."""

from __future__ import annotations

from pipeline.stores.base import Store, StoreError, UpsertResult


def open_store(url: str) -> Store:
    """A store from a URL: `sqlite:///path/to/file.db` (the embedded default)."""
    if url.startswith("sqlite:///") or url == "sqlite://:memory:":
        from pipeline.stores.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ":memory:")
    raise StoreError(f"unknown store URL {url!r}: expected sqlite:///PATH")


__all__ = ["Store", "StoreError", "UpsertResult", "open_store"]
