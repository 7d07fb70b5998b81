"""docker-compose.yml, .env.example and Dockerfile.airflow, checked statically (no Docker engine runs here)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
import yaml

from pipeline.config import PROJECT_DIR, ElasticsearchSettings
from pipeline.jobs import elasticsearch_from_connection

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


def enabled(compose: dict[str, Any], profile: str) -> set[str]:
    """The services `COMPOSE_PROFILES=profile` runs: those without profiles and those of that profile."""
    return {n for n, s in compose["services"].items() if not s.get("profiles") or profile in s["profiles"]}


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
    either = {"elasticsearch": "service_healthy", "es01": "service_healthy"}  # each optional: one per profile
    assert depends(services["kibana"]) == depends(services["setup"]) == either
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
    full = enabled(compose, "full") - enabled(compose, "simple")
    assert full == {
        "airflow-apiserver",
        "airflow-dag-processor",
        "airflow-init",
        "airflow-scheduler",
        "airflow-triggerer",
        "postgres",
    }
    always = {n for n, s in services.items() if not s.get("profiles")}
    assert always == {"kibana", "mailpit", "setup"}
    assert "elasticsearch" in enabled(compose, "simple") & enabled(compose, "full")
    assert env_example["COMPOSE_PROFILES"] == "simple"
    assert "postgresql" in services["airflow-scheduler"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


@pytest.mark.parametrize("profile", ["simple", "full", "scale"])
def test_each_profile_has_every_service_its_services_need(compose: dict[str, Any], profile: str) -> None:
    """Compose refuses a project whose enabled service requires a disabled one; an optional dependency
    (required: false) is skipped, so Kibana and setup wait for whichever Elasticsearch the profile runs."""
    services, on = compose["services"], enabled(compose, profile)
    for name in on:
        for dependency, spec in (services[name].get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on {dependency}, which does not exist"
            assert dependency in on or spec.get("required") is False, f"{profile}: {name} needs {dependency}"
    for name in ("kibana", "setup"):
        assert set(depends(services[name])) & on, f"{profile}: {name} waits for no Elasticsearch"
    stores = {"elasticsearch", "es01", "es02", "es03"} & on
    assert stores == ({"es01", "es02", "es03"} if profile == "scale" else {"elasticsearch"})


def test_scale_profile_runs_celery_workers_and_a_three_node_cluster(compose: dict[str, Any]) -> None:
    services, on = compose["services"], enabled(compose, "scale")
    assert {"redis", "postgres", "airflow-worker", "airflow-scale-scheduler", "airflow-scale-apiserver"} <= on
    assert not {"airflow", "airflow-scheduler", "airflow-apiserver"} & on  # no second scheduler or executor
    for name in on:
        if name.startswith("airflow-"):
            env = services[name]["environment"]
            assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
            assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379"), name
            assert "postgresql" in env["AIRFLOW__CELERY__RESULT_BACKEND"], name
            assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-scale-apiserver:"), name
    connection = json.loads(
        interpolate(
            services["airflow-worker"]["environment"]["AIRFLOW_CONN_ELASTICSEARCH_DEFAULT"], {"ELASTIC_PASSWORD": "x"}
        )
    )
    settings = elasticsearch_from_connection(
        SimpleNamespace(**connection, port=None, schema=None, extra_dejson={}), ElasticsearchSettings()
    )
    assert settings.url == "http://es01:9200,http://es02:9200,http://es03:9200"  # the client knows every node
    worker = services["airflow-worker"]
    assert worker["command"] == "celery worker"
    assert "ports" not in worker and "container_name" not in worker, "--scale airflow-worker=N needs neither"
    assert "celery" in " ".join(worker["healthcheck"]["test"])
    nodes = [services[f"es0{i}"] for i in (1, 2, 3)]
    for i, node in enumerate(nodes, 1):
        env = node["environment"]
        assert env["node.name"] == f"es0{i}" and env["cluster.name"] == "newswatch" and "discovery.type" not in env
        assert env["discovery.seed_hosts"] == env["cluster.initial_master_nodes"] == "es01,es02,es03"
        assert env["xpack.security.enabled"] == "true" and env["xpack.security.transport.ssl.enabled"] == "true"
        assert env["xpack.security.transport.ssl.key"] == f"certs/es0{i}/es0{i}.key"
        assert depends(node) == {"es-certs": "service_completed_successfully"}
        assert any(v.endswith(f"es0{i}-data:/usr/share/elasticsearch/data") for v in node["volumes"])
    assert "es03" in services["es-certs"]["command"][-1] and services["es-certs"]["restart"] == "no"
    assert nodes[0]["networks"]["default"]["aliases"] == ["elasticsearch"]  # the host everything else names


def test_replicas_come_from_env_for_every_newswatch_container(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    """The store sets the replica count on every index it opens: on one node setup and the DAGs' tasks apply the
    same ES_REPLICAS; on the scale profile's cluster its tasks keep one replica, whatever setup applied first."""
    scale = enabled(compose, "scale")
    for name, service in compose["services"].items():
        if name == "setup" or name.startswith("airflow"):
            value = interpolate(service["environment"]["NEWSWATCH_ELASTICSEARCH__REPLICAS"], env_example)
            expected = "1" if name in scale and name.startswith("airflow") else env_example["ES_REPLICAS"]
            assert value == expected, name
    assert env_example["ES_REPLICAS"] == "0"


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


def test_every_airflow_profile_imports_the_fetch_pool_the_ingest_dag_uses(compose: dict[str, Any]) -> None:
    """The ingest tasks run in the pool of config/airflow/pools.json; a scheduler never runs a task whose pool
    does not exist, so every Airflow profile imports the file before it starts."""
    pools = json.loads((PROJECT_DIR / "config" / "airflow" / "pools.json").read_text(encoding="utf-8"))
    dag_source = (PROJECT_DIR / "dags" / "newswatch_ingest.py").read_text(encoding="utf-8")
    pool = re.search(r'NEWSWATCH_FETCH_POOL", "([^"]+)"', dag_source)
    assert pool and pool.group(1) in pools and pools[pool.group(1)]["slots"] >= 1
    for name in ("airflow", "airflow-init", "airflow-scale-init"):
        command = " ".join(compose["services"][name]["command"])
        assert "airflow pools import /opt/newswatch/config/airflow/pools.json" in command, name
        assert command.index("db migrate") < command.index("pools import"), name
