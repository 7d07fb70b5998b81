"""Feed health: each feed's configuration, saved state and article count in one row, and the problems an
operator must hear about. Used by `newswatch feeds`, `newswatch stats` and the maintenance job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.config import FeedConfig
from pipeline.feeds import FeedState
from pipeline.run import load_feed_states
from pipeline.stores.base import Store


@dataclass
class FeedHealth:
    """One feed as the store knows it: configured or only seen in the store (state or articles)."""

    id: str
    feed: FeedConfig | None
    state: FeedState | None
    articles: int

    @property
    def configured(self) -> bool:
        return self.feed is not None

    def problems(self, now: datetime, stale_days: float) -> list[tuple[str, dict[str, Any]]]:
        """What an operator must hear of an enabled configured feed: ("disabled" | "failing", details) and
        ("stale", details) when it has had no new items for `stale_days` (a failing feed can be stale too)."""
        feed, state = self.feed, self.state
        if feed is None or not feed.enabled or state is None:
            return []
        row: dict[str, Any] = {
            "id": feed.id,
            "name": feed.name,
            "error": state.last_error,
            "failures": state.consecutive_failures,
        }
        found: list[tuple[str, dict[str, Any]]] = []
        if state.disabled:
            return [("disabled", {**row, "reason": state.disabled_reason})]
        if state.consecutive_failures:
            found.append(("failing", row))
        newest = state.last_new_articles_at
        if state.last_success and (newest is None or now - newest > timedelta(days=stale_days)):
            found.append(("stale", {**row, "last_new": newest.isoformat() if newest else None}))
        return found


def feed_health(store: Store, feeds: list[FeedConfig]) -> list[FeedHealth]:
    """Every configured feed (in config order), then every other feed the store has state or articles of."""
    states, counts = load_feed_states(store), store.counts_by_feed()
    rows = [FeedHealth(f.id, f, states.get(f.id), counts.get(f.id, 0)) for f in feeds]
    known = {f.id for f in feeds}
    rows += [
        FeedHealth(fid, None, states.get(fid), counts.get(fid, 0))
        for fid in sorted((set(states) | set(counts)) - known)
    ]
    return rows


def health_report(
    rows: list[FeedHealth], stale_days: float = 7.0, now: datetime | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Failing feeds, feeds disabled (410 Gone), feeds with no new items for `stale_days`."""
    now = now or datetime.now(UTC)
    report: dict[str, list[dict[str, Any]]] = {"failing": [], "disabled": [], "stale": []}
    for row in rows:
        for kind, details in row.problems(now, stale_days):
            report[kind].append(details)
    return report
