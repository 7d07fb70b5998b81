"""The alert records kept in the store (namespace `alert`): read them, write one back changed."""

from __future__ import annotations

from typing import Any

from pipeline.alerts.stories import AlertRecord
from pipeline.stores.base import Store

ALERT = "alert"


def list_alerts(store: Store, status: str | None = None) -> list[AlertRecord]:
    """Alert records, oldest first; only those with `status` when given."""
    records = [AlertRecord.model_validate(v) for v in store.state_items(ALERT).values()]
    return sorted((r for r in records if status is None or r.status == status), key=lambda r: (r.created_at, r.id))


def get_alert(store: Store, alert_id: str) -> AlertRecord | None:
    found = store.state_get(ALERT, alert_id)
    return AlertRecord.model_validate(found) if found is not None else None


def save(store: Store, record: AlertRecord, **changes: Any) -> AlertRecord:
    """Store the record with `changes` applied; returns the stored record."""
    record = record.model_copy(update=changes) if changes else record
    store.state_put(ALERT, record.id, record.model_dump(mode="json"))
    return record
