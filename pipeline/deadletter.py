"""Dead letters: what a stage could not handle, kept with its reason as JSON lines under NEWSWATCH_HOME."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class DeadLetters:
    """Appends one JSON line per rejected item to `<dir>/<stage>.jsonl`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0

    def add(self, stage: str, reason: str, key: str | None = None, payload: Any = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {"at": datetime.now(UTC).isoformat(), "stage": stage, "key": key, "reason": reason, "payload": payload}
        with open(self.directory / f"{stage}.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.count += 1

    def read(self, stage: str) -> list[dict[str, Any]]:
        path = self.directory / f"{stage}.jsonl"
        if not path.exists():
            return []
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
