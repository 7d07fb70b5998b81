"""docker-compose.yml, .env.example and Dockerfile.airflow, checked statically (no Docker engine runs here)."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
import yaml

from pipeline.config import PROJECT_DIR

SCHEMA = PROJECT_DIR / "tests" / "data" / "schemas" / "compose-spec.json"
VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    lines = (PROJECT_DIR / ".env.example").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} against `env`; $$ is a literal $."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.groups()
        if env.get(name):
            return env[name]
        if op and op.endswith("-"):
            return arg
        raise AssertionError(f"${{{name}}} has no value in .env.example and no default")

    return VARIABLE.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def depends(service: dict[str, Any]) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in (service.get("depends_on") or {}).items()}


def test_compose_file_is_valid_against_the_spec(compose: dict[str, Any]) -> None:
    assert SCHEMA.exists(), f"the Compose schema is expected at {SCHEMA}"
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(compose)  # the spec is draft-07


def test_the_stack_has_its_services_each_with_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"elasticsearch", "kibana", "mailpit", "setup", "airflow"} <= set(services)
    assert {
        "postgres",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    } <= set(services)
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert services["elasticsearch"]["image"].startswith(
        "docker.elastic.co/elasticsearch/elasticsearch:${STACK_VERSION"
    )
    assert services["kibana"]["image"].startswith("docker.elastic.co/kibana/kibana:${STACK_VERSION")
    assert {p.split(":")[-1] for p in services["mailpit"]["ports"]} == {"1025", "8025"}


def test_dependency_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert depends(services["kibana"]) == {"elasticsearch": "service_healthy"}
    assert depends(services["setup"]) == {"elasticsearch": "service_healthy"}
    assert depends(services["airflow"]) == {"elasticsearch": "service_healthy", "mailpit": "service_healthy"}
    assert depends(services["airflow-init"]) == {"postgres": "service_healthy"}
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert depends(services[name]) == {
            "elasticsearch": "service_healthy",
            "mailpit": "service_healthy",
            "postgres": "service_healthy",
            "airflow-init": "service_completed_successfully",
        }
    # No cycles: a topological order exists.
    order: list[str] = []
    pending = dict.fromkeys(services)
    while pending:
        ready = [n for n in pending if set(depends(services[n])) <= set(order)]
        assert ready, f"dependency cycle among {sorted(pending)}"
        order += ready
        for n in ready:
            del pending[n]


def test_profiles_pick_standalone_or_the_full_airflow(compose: dict[str, Any], env_example: dict[str, str]) -> None:
    services = compose["services"]
    assert services["airflow"]["profiles"] == ["simple"]
    assert services["airflow"]["command"][-1].endswith("&& exec airflow standalone")
    full = [n for n, s in services.items() if s.get("profiles") == ["full"]]
    assert sorted(full) == [
        "airflow-apiserver",
        "airflow-dag-processor",
        "airflow-init",
        "airflow-scheduler",
        "airflow-triggerer",
        "postgres",
    ]
    always = {n for n, s in services.items() if not s.get("profiles")}
    assert always == {"elasticsearch", "kibana", "mailpit", "setup"}
    assert env_example["COMPOSE_PROFILES"] == "simple"
    assert "postgresql" in services["airflow-scheduler"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


def test_security_is_on_and_every_secret_comes_from_env(compose: dict[str, Any], env_example: dict[str, str]) -> None:
    es = compose["services"]["elasticsearch"]["environment"]
    assert es["xpack.security.enabled"] == "true" and es["ELASTIC_PASSWORD"].startswith("${ELASTIC_PASSWORD")
    text = (PROJECT_DIR / "docker-compose.yml").read_text(encoding="utf-8")
    used = {m.group(1) for m in VARIABLE.finditer(text.replace("$$", ""))}
    assert used - set(env_example) == set(), "every variable the compose file uses is in .env.example"
    for secret in ("ELASTIC_PASSWORD", "KIBANA_SYSTEM_PASSWORD", "KIBANA_ENCRYPTION_KEY", "AIRFLOW_ADMIN_PASSWORD"):
        assert f"${{{secret}:?" in text, f"{secret} is required from .env, with no default in the compose file"
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"
    assert ".env" in (PROJECT_DIR / ".gitignore").read_text().split()


def test_airflow_connections_are_valid_json_after_interpolation(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    env = compose["services"]["airflow"]["environment"]
    es = json.loads(interpolate(env["AIRFLOW_CONN_ELASTICSEARCH_DEFAULT"], env_example))
    smtp = json.loads(interpolate(env["AIRFLOW_CONN_SMTP_DEFAULT"], env_example))
    assert (es["host"], es["port"], es["login"], es["password"]) == (
        "elasticsearch",
        9200,
        "elastic",
        env_example["ELASTIC_PASSWORD"],
    )
    assert (smtp["host"], smtp["port"], smtp["extra"]["security"]) == ("mailpit", 1025, "none")
    assert interpolate(env["NEWSWATCH_FEEDS_FILE"], env_example) == "/opt/newswatch/config/feeds.demo.yaml"
    assert (PROJECT_DIR / env_example["NEWSWATCH_FEEDS"]).exists()
    assert json.loads(env_example["NEWSWATCH_OPERATORS"]) == ["ops@newswatch.example"]
    kibana = interpolate(env["NEWSWATCH_KIBANA_PUBLIC_URL"], env_example)
    assert kibana == f"http://localhost:{env_example['KIBANA_PORT']}"  # valid for Settings.kibana_public_url


def test_setup_applies_the_template_and_imports_the_dashboards(compose: dict[str, Any]) -> None:
    script = compose["services"]["setup"]["command"][0]
    assert "_security/user/kibana_system/_password" in script
    assert script.index("newswatch es setup") < script.index("newswatch kibana import")
    assert compose["services"]["setup"]["restart"] == "no"


def test_dockerfile_installs_exactly_the_locked_set() -> None:
    dockerfile = (PROJECT_DIR / "Dockerfile.airflow").read_text(encoding="utf-8")
    lines = [line.strip() for line in dockerfile.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[lines.index(next(x for x in lines if x.startswith("FROM")))].startswith(
        "FROM apache/airflow:${AIRFLOW_VERSION}"
    )
    installs = [line for line in lines if "pip install" in line]
    assert installs == [
        "RUN pip install --no-cache-dir --require-hashes -r /opt/newswatch/requirements-airflow.txt",
        "RUN pip install --no-cache-dir --no-deps -e /opt/newswatch",  # the project itself, nothing else
    ]
    assert "COPY --chown=airflow:0 requirements-airflow.txt /opt/newswatch/requirements-airflow.txt" in lines
    pinned = re.search(r"^apache-airflow==(\S+) \\$", (PROJECT_DIR / "requirements-airflow.txt").read_text(), re.M)
    assert pinned and f"ARG AIRFLOW_VERSION={pinned.group(1)}" in lines  # the same Airflow as the tests run
    requirements = (PROJECT_DIR / "requirements.txt").read_text()
    assert "en-core-web-sm" in requirements  # spaCy's model comes with requirements.txt
    assert "en-core-web-sm" in (PROJECT_DIR / "requirements-airflow.txt").read_text()


def test_both_airflow_profiles_import_the_fetch_pool_the_ingest_dag_uses(compose: dict[str, Any]) -> None:
    """The ingest tasks run in the pool of config/airflow/pools.json; a scheduler never runs a task whose pool
    does not exist, so every Airflow profile imports the file before it starts."""
    pools = json.loads((PROJECT_DIR / "config" / "airflow" / "pools.json").read_text(encoding="utf-8"))
    dag_source = (PROJECT_DIR / "dags" / "newswatch_ingest.py").read_text(encoding="utf-8")
    pool = re.search(r'NEWSWATCH_FETCH_POOL", "([^"]+)"', dag_source)
    assert pool and pool.group(1) in pools and pools[pool.group(1)]["slots"] >= 1
    for name in ("airflow", "airflow-init"):
        command = " ".join(compose["services"][name]["command"])
        assert "airflow pools import /opt/newswatch/config/airflow/pools.json" in command, name
        assert command.index("db migrate") < command.index("pools import"), name
