"""Configuration as data: settings (config/newswatch.yaml + NEWSWATCH_* env) and the feeds file.

Everything is validated with pydantic on load; a bad file raises :class:`ConfigError`
whose message names the file and the entry at fault.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from pipeline.fields import CountryCode, Slug, unique

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = PROJECT_DIR / "config"

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration file or variable is invalid; the message names the file and the entry."""


def config_dir() -> Path:
    """The folder holding the YAML/JSON configuration (NEWSWATCH_CONFIG_DIR or ./config of the project)."""
    return Path(os.environ.get("NEWSWATCH_CONFIG_DIR") or DEFAULT_CONFIG_DIR)


def settings_file() -> Path:
    return config_dir() / "newswatch.yaml"


class HttpSettings(BaseModel):
    """How Newswatch talks to feed and article servers."""

    model_config = ConfigDict(extra="forbid")

    user_agent: str = "Newswatch/{version} (+{contact_url})"
    contact_url: str = "https://github.com/newswatch/newswatch"
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(20.0, gt=0)
    total_timeout: float = Field(60.0, gt=0, description="a whole request, slow-drip bodies included")
    max_body_bytes: int = Field(10 * 1024 * 1024, gt=0, description="after decompression")
    max_redirects: int = Field(5, ge=0)
    concurrency: int = Field(16, ge=1)
    per_host_concurrency: int = Field(2, ge=1)
    retries: int = Field(2, ge=0)
    retry_backoff_seconds: float = Field(1.0, ge=0)


class HealthSettings(BaseModel):
    """How a failing feed backs off."""

    model_config = ConfigDict(extra="forbid")

    backoff_base_seconds: float = Field(300.0, ge=0)
    backoff_max_seconds: float = Field(6 * 3600.0, ge=0)
    future_date_tolerance_seconds: float = Field(86400.0, ge=0)


class DuplicateSettings(BaseModel):
    """Near-duplicate articles (pipeline/duplicates.py): MinHash over word shingles, LSH bands to find candidates."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(0.4, gt=0, le=1, description="estimated Jaccard similarity from which two are copies")
    shingle_words: int = Field(4, ge=1, description="words per shingle")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations")
    min_shingles: int = Field(8, ge=1, description="texts with fewer shingles are never linked (too short to tell)")
    window_days: float = Field(14, gt=0, description="copies are published within this many days of each other")


class FulltextSettings(BaseModel):
    """Fetching article pages for their full text."""

    model_config = ConfigDict(extra="forbid")

    min_chars: int = Field(600, ge=0, description="`fulltext: auto` fetches when the feed text is shorter")
    respect_robots: bool = True
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="hosts, IP addresses or CIDR networks that may be fetched even if private/loopback",
    )


class TaggingSettings(BaseModel):
    """How articles are tagged: `full` (spaCy statistical model: entities, parse), `fast` (rules only), `off`."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["full", "fast", "off"] = "full"
    batch_size: int = Field(64, ge=1)
    # full mode: the entity recognizer runs on articles at least this relevant (above 1: never)
    entities_min_relevance: float = Field(0.2, ge=0)


class ServiceConnection(BaseModel):
    """Where a service (Elasticsearch, Kibana) is and how to log in; unset values come from the environment
    variables the service's own tools read, PREFIX_URL, PREFIX_API_KEY, PREFIX_USERNAME/PASSWORD, PREFIX_CA_CERTS."""

    model_config = ConfigDict(extra="forbid")
    env_prefix: ClassVar[str]
    default_url: ClassVar[str]

    url: str | None = None
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_certs: Path | None = None
    verify_certs: bool = True

    def resolved(self) -> Self:
        """These settings with the environment filled in where unset (the URL defaults to the local service)."""
        update: dict[str, Any] = {}
        for name in ("url", "api_key", "username", "password", "ca_certs"):
            value = os.environ.get(f"{self.env_prefix}_{name.upper()}")
            if getattr(self, name) in (None, "") and value:
                update[name] = value
        if not (update.get("url") or self.url):
            update["url"] = self.default_url
        return self.model_validate({**self.model_dump(), **update})


class ElasticsearchSettings(ServiceConnection):
    """Connection and index settings (ELASTICSEARCH_URL, ELASTICSEARCH_API_KEY, ... from the environment)."""

    env_prefix: ClassVar[str] = "ELASTICSEARCH"
    default_url: ClassVar[str] = "http://localhost:9200"

    request_timeout: float = Field(30.0, gt=0)
    max_retries: int = Field(3, ge=0)
    index_prefix: Slug = "newswatch"
    shards: int = Field(1, ge=1)
    replicas: int = Field(0, ge=0)
    refresh_interval: str = "1s"
    # how long a document stamped indexed_at may take to become searchable (another writer's bulk request in
    # flight or retried, refresh): the alerts job reads only what is older than this (Store.settle)
    settle_seconds: float = Field(120.0, ge=0)
    chunk_size: int = Field(500, ge=1)
    max_chunk_bytes: int = Field(10 * 1024 * 1024, ge=1024)


class KibanaSettings(ServiceConnection):
    """Where `newswatch kibana import` sends the saved objects (KIBANA_URL, KIBANA_API_KEY or
    KIBANA_USERNAME/KIBANA_PASSWORD, KIBANA_CA_CERTS from the environment)."""

    env_prefix: ClassVar[str] = "KIBANA"
    default_url: ClassVar[str] = "http://localhost:5601"

    space: str | None = Field(None, pattern=r"^[a-z0-9_-]+$", description="Kibana space; the default space if unset")
    timeout: float = Field(60.0, gt=0)


class SmtpSettings(BaseModel):
    """Mail delivery. Without a host, alerts are written as .eml files to NEWSWATCH_HOME/outbox."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_addr: str = "Newswatch <newswatch@localhost>"
    timeout: float = Field(30.0, gt=0)
    ca_file: Path | None = Field(None, description="CA bundle to trust (e.g. a self-signed server certificate)")

    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]


class Settings(BaseSettings):
    """All settings; precedence: arguments > NEWSWATCH_* environment > config/newswatch.yaml > defaults."""

    model_config = SettingsConfigDict(env_prefix="NEWSWATCH_", env_nested_delimiter="__", extra="forbid")

    home: Path = Path("var")
    config_dir: Path = Field(default_factory=config_dir)
    feeds_file: Path | None = None
    store: Literal["sqlite", "elasticsearch"] = "sqlite"
    store_url: str | None = None
    http: HttpSettings = Field(default_factory=HttpSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    fulltext: FulltextSettings = Field(default_factory=FulltextSettings)
    duplicates: DuplicateSettings = Field(default_factory=DuplicateSettings)
    tagging: TaggingSettings = Field(default_factory=TaggingSettings)
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    kibana: KibanaSettings = Field(default_factory=KibanaSettings)
    kibana_public_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="Kibana as analysts reach it (NEWSWATCH_KIBANA_PUBLIC_URL): each alert email links to its story",
    )
    operators: list[str] = Field(default_factory=list, description="who gets the feed-health report")
    chunk_feeds: int = Field(100, ge=1, description="feeds a pass fetches, tags and stores together (bounds memory)")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = settings_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path.exists():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @property
    def feeds_path(self) -> Path:
        return self.feeds_file or self.config_dir / "feeds.yaml"

    @property
    def store_location(self) -> str:
        """Where articles are kept, for messages (never with credentials)."""
        if self.store == "elasticsearch":
            return f"elasticsearch {redact_url(self.elasticsearch.resolved().url or '')}"
        return self.store_url or f"sqlite:///{self.home / 'newswatch.db'}"

    @property
    def user_agent(self) -> str:
        from pipeline import __version__

        return self.http.user_agent.format(version=__version__, contact_url=self.http.contact_url)

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def deadletter_dir(self) -> Path:
        return self.home / "deadletter"


def redact_url(url: str) -> str:
    """A URL without the user:password part."""
    parts = urlsplit(url)
    if parts.password or parts.username:
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def load_settings(**overrides: Any) -> Settings:
    """Settings from config/newswatch.yaml and the environment; ConfigError on a bad value."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, f"{settings_file()} or NEWSWATCH_* environment")) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{settings_file()}: not valid YAML: {exc}") from None


class FeedConfig(BaseModel):
    """One feed a user wants polled."""

    model_config = ConfigDict(extra="forbid")

    id: Slug
    name: str
    url: str
    language: str = "en"
    country: CountryCode | None = None
    # official statements (a ministry's or embassy's feed): the government whose "we" and "I" they speak with
    speaks_for: CountryCode | None = None
    enabled: bool = True
    fulltext: Literal["never", "auto", "always"] = "never"
    tags: list[str] = Field(default_factory=list)
    # demo feeds only: entries marked as written for the demo (category "newswatch-demo") are moved forward by
    # the time between this instant and the fetch, so that the demo's recent news stays recent on any day
    demo_recent_as_of: AwareDatetime | None = None

    @field_validator("url")
    @classmethod
    def _url_shape(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be empty")
        if "://" in v and not v.startswith(("http://", "https://", "file://")):
            raise ValueError("must be http(s)://, file:// or a path")
        return v


class FeedsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feeds: list[FeedConfig]

    @model_validator(mode="after")
    def _unique_ids(self) -> FeedsFile:
        unique((feed.id for feed in self.feeds), "feed id")
        return self


def load_yaml(path: Path) -> Any:
    """Parse a YAML file, turning I/O and syntax errors into ConfigError."""
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def load_model(model: type[M], path: Path) -> M:
    """A YAML file validated as `model`; every problem is a ConfigError naming the file and the entry.

    The one loader of every config and data file (settings come from pydantic-settings)."""
    data = load_yaml(path)
    if not issubclass(model, RootModel) and not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with {', '.join(model.model_fields)}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, str(path), data)) from None


def load_feeds(path: Path) -> list[FeedConfig]:
    """The feeds listed in a feeds YAML file; relative paths are resolved against its folder."""
    parsed = load_model(FeedsFile, path)
    base = path.resolve().parent
    for feed in parsed.feeds:
        if "://" not in feed.url and not Path(feed.url).is_absolute():
            feed.url = str(base / feed.url)
    return parsed.feeds


def describe_validation_error(exc: ValidationError, where: str, data: Any = None) -> str:
    """One readable line per error: file, entry (with the feed id when known), field, message."""
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        label = _loc_label(loc, data)
        if not label:
            lines.append(f"{where}: {err['msg']}")
        else:  # "file.yaml [3] (id 'x').field: ..." for a list file, "file.yaml: feeds[3] ...: ..." for a mapping
            lines.append(f"{where}{' ' if label.startswith('[') else ': '}{label}: {err['msg']}")
    return "\n".join(lines)


def _loc_label(loc: list[Any], data: Any) -> str:
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            entry = f"[{item}]"
            if isinstance(node, list) and item < len(node):
                node = node[item]
                if isinstance(node, dict) and node.get("id"):
                    entry += f" (id {node['id']!r})"
            parts.append(entry)
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts)
