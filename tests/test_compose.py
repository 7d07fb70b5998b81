"""docker-compose.yml is checked statically against the Compose Specification (no Docker engine here)."""

from __future__ import annotations

import json

import jsonschema
import yaml

from pipeline.config import PROJECT_DIR

SCHEMA = PROJECT_DIR.parent / "shared" / "schemas" / "compose-spec.json"


def test_compose_file_is_valid_against_the_spec() -> None:
    assert SCHEMA.exists(), f"the Compose schema is expected at {SCHEMA} (../shared beside the clone)"
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    compose = yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(compose)  # the spec is draft-07
    assert compose["services"], "at least one service"
