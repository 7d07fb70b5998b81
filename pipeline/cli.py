"""The `newswatch` command line: thin commands over pipeline/.

Exit codes: 0 done; 1 the command failed (e.g. the store cannot be opened); 2 bad usage or
configuration; 3 done, but one or more feeds failed (their errors are in the summary and in
`newswatch feeds`).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline import __version__
from pipeline.config import ConfigError, FeedConfig, Settings, load_feeds, load_settings, redact_url
from pipeline.feeds import FetchResult, poll_feeds
from pipeline.models import EVENT_TYPES
from pipeline.stores import Store, StoreError, open_configured_store

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_PARTIAL = 0, 1, 2, 3

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


class Context:
    """What every command gets: settings, and the feeds file chosen with --feeds."""

    def __init__(self, home: Path | None, verbose: int, store: str | None = None) -> None:
        self.home = home
        self.verbose = verbose
        self.store_kind = store
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(home=self.home, store=self.store_kind)
        return self._settings

    def feeds(self, path: Path | None) -> list[FeedConfig]:
        return load_feeds(path or self.settings.feeds_path)

    @contextmanager
    def store(self) -> Iterator[Store]:
        store = open_configured_store(self.settings)
        try:
            yield store
        finally:
            store.close()


def emit_json(data: Any) -> None:
    """JSON on stdout, unwrapped, for scripts."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def handle_errors(func: Callable[..., int | None]) -> Callable[..., None]:
    """Turn known errors into one clear line and the documented exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = func(*args, **kwargs) or EXIT_OK
        except ConfigError as exc:
            err.print(f"[bold red]configuration error:[/] {escape(str(exc))}")
            code = EXIT_CONFIG
        except StoreError as exc:
            err.print(f"[bold red]store error:[/] {escape(str(exc))}")
            code = EXIT_FAILED
        sys.exit(code)

    return wrapper


feeds_option = click.option(
    "--feeds",
    "feeds_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Feeds YAML file (default: NEWSWATCH_FEEDS_FILE or config/feeds.yaml).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of tables.")
force_option = click.option("--force", is_flag=True, help="Poll feeds that are backing off after failures, too.")


def _choose_store(ctx: click.Context, _: click.Parameter, value: str | None) -> str | None:
    if value:
        ctx.find_object(Context).store_kind = value
    return value


store_option = click.option(
    "--store",
    type=click.Choice(["sqlite", "elasticsearch"]),
    expose_value=False,
    callback=_choose_store,
    help="Where articles are kept (default: NEWSWATCH_STORE or sqlite; Elasticsearch reads ELASTICSEARCH_URL etc.).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help="Data folder for the store, outbox, dead letters and caches (default: NEWSWATCH_HOME or ./var).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="newswatch")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, verbose: int) -> None:
    """Newswatch: news monitoring for counter-terrorism analysts."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(message)s", handlers=[RichHandler(console=err, show_path=False)])
    for noisy in ("elastic_transport", "elasticsearch", "httpx"):  # their retries are reported by us, once
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose >= 2 else logging.ERROR)
    ctx.obj = Context(home, verbose)


class RichReporter:
    """Progress bars on stderr for the stages of a pass."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def stage(self, name: str, total: int | None) -> None:
        """A new bar, or more work for the bar of a stage already under way (a pass works in chunks)."""
        if name in self.tasks and total is not None:
            task = next(t for t in self.progress.tasks if t.id == self.tasks[name])
            self.progress.update(task.id, total=(task.total or 0) + total)
        else:
            self.tasks[name] = self.progress.add_task(name, total=total)

    def advance(self, name: str, n: int = 1) -> None:
        if name in self.tasks:
            self.progress.advance(self.tasks[name], n)

    def feed_done(self, result: FetchResult) -> None:
        if result.status == "failed":
            self.progress.console.print(f"[red]✗[/] {escape(result.feed.id)}: {escape(result.error or '')}")


def progress_bars() -> Progress:
    return Progress(
        TextColumn("{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )


@cli.command()
@store_option
@feeds_option
@force_option
@json_option
@click.pass_obj
@handle_errors
@click.option(
    "--tagging", type=click.Choice(["full", "fast", "off"]), help="Tagging mode (default: from config, `full`)."
)
def run(obj: Context, feeds_file: Path | None, force: bool, as_json: bool, tagging: str | None) -> int:
    """Run one pass (fetch -> normalise -> tag -> store), then the alerts job, as the Airflow DAGs do."""
    from pipeline.alerts import Mailer, load_rules, run_alerts, settle_wait
    from pipeline.run import run_pass
    from pipeline.tagging import tagger_for

    settings, feeds = obj.settings, obj.feeds(feeds_file)
    if tagging:
        settings = settings.model_copy(update={"tagging": settings.tagging.model_copy(update={"mode": tagging})})
    tagger = tagger_for(settings)
    rules = load_rules()  # validated before any work, so that a bad rules file stops the run at once
    with obj.store() as store:
        with progress_bars() as progress:
            summary = run_pass(settings, feeds, store, tag=tagger, reporter=RichReporter(progress), force=force)
        if delay := settle_wait(store, datetime.now(UTC)):
            err.print(f"waiting {delay:.0f} s for the last writes to settle before the alerts job (settle_seconds)")
        alert_run = run_alerts(store, settings, rules=rules, wait=True)
    data = {**summary.to_dict(), "alerts": alert_run.sent}
    if as_json:
        emit_json(data)
    else:
        print_summary(data, settings)
        out.print(
            f"alerts: {alert_run.created} new, {alert_run.updates} update(s) for the digest, "
            f"{alert_run.sent} sent to {escape(Mailer(settings.smtp, settings.outbox_dir).target)}"
        )
        for error in alert_run.errors:
            out.print(f"[red]alert not sent[/] {escape(error)} (kept pending; the next run retries)")
    return EXIT_PARTIAL if summary.feeds_failed or alert_run.failed else EXIT_OK


def print_summary(data: dict[str, Any], settings: Settings) -> None:
    table = Table(title="Newswatch pass", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("feeds ok", data["feeds_ok"]),
        ("feeds not modified", data["feeds_not_modified"]),
        ("feeds failed", data["feeds_failed"]),
        ("feeds skipped (backoff)", data["feeds_skipped"]),
        ("feeds disabled", data["feeds_disabled"]),
        ("entries read", data["entries"]),
        ("entries rejected", data["entry_errors"]),
        ("duplicates dropped", data["duplicates"]),
        ("already stored", data["already_seen"]),
        ("new articles", data["new_articles"]),
        ("changed articles", data["changed_articles"]),
        ("copies of an earlier story", data["copies"]),
        ("full text extracted", data["fulltext_extracted"]),
        ("tagged", data["tagged"]),
        ("stored", data["stored"]),
        ("store errors", data["store_errors"]),
        ("alerts sent", data["alerts"]),
    ]
    for label, value in rows:
        style = "red" if value and label in ("feeds failed", "entries rejected", "store errors") else ""
        table.add_row(label, f"[{style}]{value}[/]" if style else str(value))
    out.print(table)
    for feed_id, error in data["failed_feeds"].items():
        out.print(f"[red]failed[/] {escape(feed_id)}: {escape(error)}")
    out.print(f"store: {escape(settings.store_location)}   ({data['seconds']:.1f}s)")


@cli.command()
@store_option
@feeds_option
@force_option
@json_option
@click.option("--entries", "show_entries", is_flag=True, help="List every entry's title, not just counts.")
@click.pass_obj
@handle_errors
def fetch(obj: Context, feeds_file: Path | None, force: bool, as_json: bool, show_entries: bool) -> int:
    """Poll feeds and report what they hold, without storing articles.

    Feed health (successes, errors, backoff) is recorded; HTTP validators are not advanced,
    so the next `newswatch run` still receives every item.
    """
    from pipeline.normalise import html_to_text
    from pipeline.run import load_feed_states, save_feed_states

    settings, feeds = obj.settings, obj.feeds(feeds_file)
    with obj.store() as store, progress_bars() as progress:
        reporter = RichReporter(progress)
        reporter.stage("fetch", len(feeds))
        results = poll_feeds(
            feeds, load_feed_states(store), settings, force=force, on_result=lambda r: reporter.advance("fetch")
        )
        save_feed_states(store, results, advance_validators=False)
    rows = [
        {
            "feed": r.feed.id,
            "status": r.status,
            "http_status": r.http_status,
            "entries": len(r.entries),
            "bytes": r.size,
            "seconds": round(r.elapsed, 3),
            "error": r.error,
            "warnings": r.warnings,
            "titles": [html_to_text(e.get("title", "") or "") for e in r.entries] if show_entries else None,
        }
        for r in results
    ]
    if as_json:
        emit_json(rows)
    else:
        table = Table("feed", "status", "HTTP", "entries", "KiB", "s", "error / warning")
        for row in rows:
            note = row["error"] or "; ".join(row["warnings"])
            status = {"failed": "[red]failed[/]", "ok": "[green]ok[/]"}.get(row["status"], row["status"])
            table.add_row(
                escape(row["feed"]),
                status,
                str(row["http_status"] or ""),
                str(row["entries"]),
                f"{row['bytes'] / 1024:.1f}",
                f"{row['seconds']:.2f}",
                escape(note or ""),
            )
        out.print(table)
        if show_entries:
            for row in rows:
                for title in row["titles"] or []:
                    out.print(f"{escape(row['feed'])}: {escape(title)}")
    return EXIT_PARTIAL if any(r.status == "failed" for r in results) else EXIT_OK


@cli.command("feeds")
@store_option
@feeds_option
@json_option
@click.pass_obj
@handle_errors
def feeds_cmd(obj: Context, feeds_file: Path | None, as_json: bool) -> int:
    """Show each feed's health: last success, failures, last error, next allowed poll."""
    from pipeline.health import feed_health

    feeds = obj.feeds(feeds_file)
    with obj.store() as store:
        health = feed_health(store, feeds)
    rows = [
        {
            "id": h.feed.id,
            "name": h.feed.name,
            "enabled": h.feed.enabled,
            "articles": h.articles,
            **(h.state.model_dump(mode="json") if h.state else {}),
        }
        for h in health
        if h.feed
    ]
    if as_json:
        emit_json(rows)
        return EXIT_OK
    table = Table("feed", "enabled", "articles", "last success", "failures", "next poll", "last error")
    for row in rows:
        enabled = "no" if not row["enabled"] else ("[red]disabled[/]" if row.get("disabled") else "yes")
        failures = row.get("consecutive_failures", 0)
        table.add_row(
            escape(row["id"]),
            enabled,
            str(row["articles"]),
            _when(row.get("last_success")),
            f"[red]{failures}[/]" if failures else "0",
            _when(row.get("next_poll_after")),
            escape(row.get("disabled_reason") or row.get("last_error") or ""),
        )
    out.print(table)
    return EXIT_OK


def _when(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M")


@cli.command()
@store_option
@click.argument("query")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000), help="How many results.")
@json_option
@click.pass_obj
@handle_errors
def search(obj: Context, query: str, limit: int, as_json: bool) -> int:
    """Full-text search over stored articles (title and text), best first."""
    with obj.store() as store:
        hits = store.search(query, limit=limit)
    if as_json:
        emit_json(
            [
                {
                    "id": h.article.id,
                    "score": round(h.score, 4),
                    "title": h.article.title,
                    "url": h.article.url,
                    "source": h.article.source,
                    "published_at": h.article.published_at.isoformat(),
                    "highlights": h.highlights,
                }
                for h in hits
            ]
        )
        return EXIT_OK
    table = Table(title=f"{len(hits)} result(s) for {escape(query)}", title_justify="left")
    table.add_column("published", no_wrap=True)
    table.add_column("source")
    table.add_column("title and link", overflow="fold")
    for hit in hits:
        a = hit.article
        link = f"\n[dim]{escape(a.url)}[/]" if a.url else ""
        table.add_row(f"{a.published_at:%Y-%m-%d}", escape(a.source), f"{escape(a.title)}{link}")
    out.print(table)
    return EXIT_OK


@cli.command()
@store_option
@click.option("--concept", help="Taxonomy concept id, e.g. isis.")
@click.option("--country", help="ISO 3166-1 alpha-2 code, e.g. MY.")
@click.option("--event-type", type=click.Choice(EVENT_TYPES))
@click.option("--feed", "feed_id", help="Feed id.")
@click.option("--entity", help="A person, organisation or place named in the article (full mode), any case.")
@click.option("--language", help="The feed's language code, e.g. en or ms.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@json_option
@click.pass_obj
@handle_errors
def articles(
    obj: Context,
    concept: str | None,
    country: str | None,
    event_type: str | None,
    feed_id: str | None,
    entity: str | None,
    language: str | None,
    limit: int,
    as_json: bool,
) -> int:
    """List stored articles, newest first, filtered by concept, country, event type, feed, entity or language."""
    with obj.store() as store:
        found = store.query(
            concept=concept,
            country=country.upper() if country else None,
            event_type=event_type,
            feed_id=feed_id,
            entity=entity,
            language=language,
            limit=limit,
        )
    if as_json:
        emit_json([a.to_doc() for a in found])
        return EXIT_OK
    table = Table(title=f"{len(found)} article(s)", title_justify="left")
    table.add_column("published", no_wrap=True)
    table.add_column("title", overflow="fold")
    table.add_column("countries")
    table.add_column("events", overflow="fold")
    table.add_column("relevance", justify="right")
    for a in found:
        events = ", ".join(f"{e.type} {e.dyad}" for e in a.events)
        table.add_row(
            f"{a.published_at:%Y-%m-%d}", escape(a.title), " ".join(a.countries), events, f"{a.relevance:.2f}"
        )
    out.print(table)
    return EXIT_OK


@cli.command()
@store_option
@feeds_option
@json_option
@click.pass_obj
@handle_errors
def stats(obj: Context, feeds_file: Path | None, as_json: bool) -> int:
    """Counts: articles in the store, per feed, with each feed's health."""
    from pipeline.health import feed_health

    configured = obj.feeds(feeds_file) if feeds_file or obj.settings.feeds_path.exists() else []
    with obj.store() as store:
        total, health = store.count(), feed_health(store, configured)
    data = {
        "articles": total,
        "store": obj.settings.store_location,
        "feeds": {
            h.id: {
                "articles": h.articles,
                "configured": h.configured,
                "last_success": h.state.last_success.isoformat() if h.state and h.state.last_success else None,
                "consecutive_failures": h.state.consecutive_failures if h.state else 0,
                "disabled": h.state.disabled if h.state else False,
                "last_error": h.state.last_error if h.state else None,
            }
            for h in sorted(health, key=lambda h: h.id)
        },
    }
    if as_json:
        emit_json(data)
        return EXIT_OK
    out.print(f"articles: {total}   store: {escape(data['store'])}")
    table = Table("feed", "articles", "failures", "last success")
    for fid, row in data["feeds"].items():
        table.add_row(escape(fid), str(row["articles"]), str(row["consecutive_failures"]), _when(row["last_success"]))
    out.print(table)
    return EXIT_OK


@cli.command()
@click.option(
    "--input",
    "input_file",
    type=click.File("r", encoding="utf-8"),
    default="-",
    show_default=True,
    help='JSON lines {"id", "title", "text"} ("-" for standard input).',
)
@click.option(
    "--output",
    "output_file",
    type=click.File("w", encoding="utf-8"),
    default="-",
    show_default=True,
    help="JSON lines with concepts, categories, countries, events, relevance.",
)
@click.option("--fast", is_flag=True, help="Rules only: no statistical model (no entities, no parse).")
@click.pass_obj
@handle_errors
def tag(obj: Context, input_file: Any, output_file: Any, fast: bool) -> int:
    """Tag articles from a JSON-lines file. Bad lines are reported with their number and skipped (exit 3)."""
    from pipeline.tagging import get_tagger, tag_record

    tagger = get_tagger("fast" if fast else "full", str(obj.settings.config_dir))
    bad = 0
    for number, line in enumerate(input_file, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "id" not in record:
                raise ValueError('expected an object with "id", "title" and "text"')
            output_file.write(json.dumps(tag_record(tagger, record), ensure_ascii=False) + "\n")
        except ValueError as exc:
            bad += 1
            err.print(f"[red]line {number}:[/] {escape(str(exc))}")
    if bad:
        err.print(f"{bad} bad line(s) skipped")
    return EXIT_PARTIAL if bad else EXIT_OK


@cli.command("eval")
@click.option(
    "--gold",
    "gold_path",
    type=click.Path(exists=True, path_type=Path),
    help="Gold YAML file or folder (default: tests/data/gold, the written gold set).",
)
@click.option(
    "--split",
    type=click.Choice(["train", "dev", "test"]),
    help="Score a split of the real-news corpus (tests/data/news) instead of the gold set.",
)
@click.option("--baseline", is_flag=True, help="Score the keyword co-occurrence baseline instead of the tagger.")
@click.option("--fast", is_flag=True, help="Evaluate the fast (rules only) mode.")
@click.option("--details", is_flag=True, help="List every miss and every extra.")
@click.option("--strict", is_flag=True, help="Exit 3 when a target is not met.")
@click.option(
    "--duplicates",
    is_flag=True,
    help="Score the near-duplicate detector on real copy pairs and near misses (tests/data/duplicates) instead.",
)
@json_option
@click.pass_obj
@handle_errors
def eval_cmd(
    obj: Context,
    gold_path: Path | None,
    split: str | None,
    baseline: bool,
    fast: bool,
    details: bool,
    strict: bool,
    duplicates: bool,
    as_json: bool,
) -> int:
    """Precision, recall and F1 of the bilateral-event judgement (events, alerts; concepts and countries on
    the gold set) on the written gold set or a split of the real-news corpus; or of the near-duplicate
    detector (--duplicates)."""
    from pipeline.evaluate import DEFAULT_GOLD, NEWS_TARGETS, TARGETS, below_targets, evaluate, load_gold
    from pipeline.tagging import get_tagger

    if duplicates:
        return _eval_copies(obj.settings, details, as_json)
    if split and gold_path:
        raise click.UsageError("give --gold or --split, not both")
    if split:
        from pipeline.corpus import load_split

        items: list[Any] = load_split(split)
        name, targets = f"real-news corpus, {split} split", NEWS_TARGETS
    else:
        items, name, targets = load_gold(gold_path or DEFAULT_GOLD), "gold set", TARGETS
    mode = "fast" if fast else "full"
    detector = "keyword baseline" if baseline else f"{mode} mode"
    scores = evaluate(get_tagger(mode, str(obj.settings.config_dir)), items, baseline=baseline)
    status = scores.pop("status")
    missed = below_targets(scores, targets)
    if as_json:
        emit_json(
            {
                "set": name,
                "detector": detector,
                "mode": mode,
                "articles": len(items),
                "below_targets": missed,
                **{
                    key: score.summary()
                    if details
                    else {k: v for k, v in score.summary().items() if k not in ("misses", "extras")}
                    for key, score in scores.items()
                },
                "status": {
                    "right": status.right,
                    "total": status.total,
                    "share": round(status.share, 4),
                    **({"wrong": status.wrong} if details else {}),
                },
            }
        )
    else:
        table = Table(title=f"{name.capitalize()}: {len(items)} articles, {detector}", title_justify="left")
        for column in ("", "precision", "recall", "F1", "TP", "FP", "FN"):
            table.add_column(column, justify="right" if column else "left")
        for key, score in scores.items():
            table.add_row(
                key,
                f"{score.precision:.3f}",
                f"{score.recall:.3f}",
                f"{score.f1:.3f}",
                str(score.tp),
                str(score.fp),
                str(score.fn),
            )
        out.print(table)
        if status.total:
            out.print(f"status right on {status.right} of {status.total} matched events ({status.share:.3f})")
        if details:
            for key, score in scores.items():
                for line in score.misses:
                    out.print(f"[red]missed[/] {key} {escape(line)}")
                for line in score.extras:
                    out.print(f"[yellow]extra[/]  {key} {escape(line)}")
            for line in status.wrong:
                out.print(f"[yellow]status[/] {escape(line)}")
        for line in missed:
            out.print(f"[red]below target:[/] {line}")
    return EXIT_PARTIAL if strict and missed else EXIT_OK


def _eval_copies(settings: Settings, details: bool, as_json: bool) -> int:
    from pipeline.duplicates import PAIRS, load_pairs
    from pipeline.evaluate import score_copies

    pairs = load_pairs(PAIRS)
    score, rows = score_copies(pairs, settings.duplicates)
    if as_json:
        summary = {k: v for k, v in score.summary().items() if details or k not in ("misses", "extras")}
        pairs_out = [
            {"id": i, "label": label, "linked": linked, "similarity": round(sim, 4)} for i, label, linked, sim in rows
        ]
        emit_json(
            {"set": str(PAIRS.name), "pairs": len(pairs), **summary, **({"by_pair": pairs_out} if details else {})}
        )
        return EXIT_OK
    table = Table(title=f"Near-duplicate detector: {len(pairs)} real pairs", title_justify="left")
    for column in ("precision", "recall", "F1", "TP", "FP", "FN"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{score.precision:.3f}", f"{score.recall:.3f}", f"{score.f1:.3f}", *map(str, (score.tp, score.fp, score.fn))
    )
    out.print(table)
    if details:
        for pair_id, label, linked, similarity in rows:
            verdict = "linked" if linked else "not linked"
            out.print(f"{escape(pair_id)}: {label}, {verdict}, estimated similarity {similarity:.3f}")
    return EXIT_OK


@cli.group()
def corpus() -> None:
    """The real-news corpus (tests/data/news): add labelled items, show its make-up and how two annotators
    agree."""


@corpus.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-known", is_flag=True, help="Skip items whose id or URL is already in the corpus.")
@click.pass_obj
@handle_errors
def corpus_add(obj: Context, files: tuple[Path, ...], skip_known: bool) -> int:
    """Add labelled items (YAML lists, docs/labelling.md) to the splits their URLs hash to."""
    from pipeline.corpus import add_items

    added = add_items(list(files), skip_known=skip_known)
    out.print(", ".join(f"{count} to {split}" for split, count in added.items()))
    return EXIT_OK


@corpus.command("stats")
@json_option
@click.pass_obj
@handle_errors
def corpus_stats(obj: Context, as_json: bool) -> int:
    """Items, alerts, kinds and sources of each split."""
    from pipeline.corpus import corpus_stats as stats

    figures = stats()
    if as_json:
        emit_json(figures)
        return EXIT_OK
    table = Table(title="Real-news corpus", title_justify="left")
    for column in ("split", "items", "alert", "kinds", "sources"):
        table.add_column(column)
    for split, row in figures.items():
        table.add_row(
            split,
            str(row["items"]),
            str(row["alerts"]),
            ", ".join(f"{k} {v}" for k, v in row["kinds"].items()),
            ", ".join(f"{k} {v}" for k, v in row["sources"].items()),
        )
    out.print(table)
    return EXIT_OK


@corpus.command("agreement")
@json_option
@click.pass_obj
@handle_errors
def corpus_agreement(obj: Context, as_json: bool) -> int:
    """How a second annotator's blind labels (tests/data/news/second) agree with the corpus's, per split."""
    from pipeline.corpus import SPLITS, load_split, second_labels
    from pipeline.evaluate import annotator_agreement

    figures = {
        split: annotator_agreement(load_split(split), labels)
        for split in SPLITS
        if (labels := second_labels(split)) is not None
    }
    if as_json:
        emit_json(figures)
        return EXIT_OK
    table = Table(title="Agreement between annotators (second against first)", title_justify="left")
    for column in ("split", "items", "alert agreement", "kappa", "alert P / R / F1", "event F1", "alerts differ"):
        table.add_column(column)
    for split, row in figures.items():
        a = row["alerts"]
        table.add_row(
            split,
            str(row["items"]),
            f"{row['alert_agreement']:.3f}",
            f"{row['alert_kappa']:.3f}",
            f"{a['precision']:.3f} / {a['recall']:.3f} / {a['f1']:.3f}",
            f"{row['events']['f1']:.3f}",
            str(len(row["disagreements"])),
        )
    out.print(table)
    out.print("The items whose alert the two decide differently: --json.")
    return EXIT_OK


@cli.group()
def alerts() -> None:
    """Alert rules (config/alerts.yaml): evaluate, send, list, preview."""


@alerts.command("run")
@click.option("--digest", is_flag=True, help="Also send the digests of pending digest items.")
@click.option(
    "--wait",
    is_flag=True,
    help="First wait until the newest indexed articles have settled (Elasticsearch: settle_seconds), so that "
    "they are evaluated now rather than by the next run.",
)
@store_option
@json_option
@click.pass_obj
@handle_errors
def alerts_run(obj: Context, digest: bool, wait: bool, as_json: bool) -> int:
    """Evaluate every enabled rule over newly indexed, settled articles and deliver pending alerts."""
    from pipeline.alerts import Mailer, run_alerts

    with obj.store() as store:
        result = run_alerts(store, obj.settings, digest=digest, wait=wait)
    target = Mailer(obj.settings.smtp, obj.settings.outbox_dir).target
    if as_json:
        emit_json({**result.__dict__, "target": target})
    else:
        out.print(
            f"{result.created} new alert(s), {result.updates} update(s), {result.sent} sent, "
            f"{result.digests_sent} digest(s) sent, {result.resent} resent to refused recipients, "
            f"{result.muted} muted, {result.failed} failed -> {escape(target)}"
        )
        for error in result.errors:
            out.print(f"[red]not sent[/] {escape(error)} (kept pending; the next run retries)")
    return EXIT_PARTIAL if result.failed else EXIT_OK


@alerts.command("list")
@click.option("--status", type=click.Choice(["pending", "sent", "muted"]), help="Only alerts with this status.")
@store_option
@json_option
@click.pass_obj
@handle_errors
def alerts_list(obj: Context, status: str | None, as_json: bool) -> int:
    """Alert records: pending, sent or muted, their review, and the reason of the last failure."""
    from pipeline.alerts import list_alerts, subject_of

    with obj.store() as store:
        records = list_alerts(store, status)
    if as_json:
        emit_json([r.model_dump(mode="json") for r in records])
        return EXIT_OK
    table = Table(
        "id",
        "rule",
        "status",
        "delivery",
        "subject",
        "sources",
        "review",
        "last error",
        title=f"{len(records)} alert(s)",
        title_justify="left",
    )
    for r in records:
        state = {"sent": "[green]sent[/]", "pending": "[yellow]pending[/]"}.get(r.status, r.status)
        table.add_row(
            r.id,
            escape(r.rule),
            state,
            r.delivery,
            escape(subject_of(r)),
            str(len(r.sources)),
            r.review.replace("_", " "),
            escape(r.last_error or ""),
        )
    out.print(table)
    return EXIT_OK


def _analyst() -> str:
    """Who acts: NEWSWATCH_ANALYST, else the login name."""
    import getpass
    import os

    return os.environ.get("NEWSWATCH_ANALYST") or getpass.getuser()


by_option = click.option("--by", default=_analyst, show_default="NEWSWATCH_ANALYST or your login", help="Who acts.")
note_option = click.option("--note", help="Why (kept with the action).")


@contextmanager
def _action_errors(param_hint: str) -> Iterator[None]:
    """An action that cannot be applied (pipeline.alerts.actions.ActionError) is a usage error, exit 2."""
    from pipeline.alerts.actions import ActionError

    try:
        yield
    except ActionError as exc:
        raise click.BadParameter(str(exc), param_hint=param_hint) from None


def _review_command(verb: str, summary: str) -> None:
    @alerts.command(verb, help=f"{summary} ALERT_ID: the id or a unique prefix of it (newswatch alerts list).")
    @click.argument("alert_id")
    @by_option
    @note_option
    @store_option
    @click.pass_obj
    @handle_errors
    def command(obj: Context, alert_id: str, by: str, note: str | None) -> int:
        from pipeline.alerts.actions import review

        with obj.store() as store, _action_errors("ALERT_ID"):
            record = review(store, alert_id, verb, by, datetime.now(UTC), note)
        out.print(f"{record.id}: {record.review.replace('_', ' ')} ({verb} by {escape(by)})")
        return EXIT_OK


_review_command("ack", "Acknowledge an alert: confirmed, acted on.")
_review_command("false-positive", "Mark an alert a false positive (exported as a labelled negative).")
_review_command("reopen", "Set an alert's review back to open.")


@alerts.command("mute")
@click.argument("target")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), required=True, help="How long; it lapses then.")
@by_option
@note_option
@store_option
@click.pass_obj
@handle_errors
def alerts_mute(obj: Context, target: str, days: float, by: str, note: str | None) -> int:
    """Mute TARGET for some days: a country pair ("MY-TH": every rule) or an alert id (that rule's story of its
    pair). Its alerts are recorded as muted, never sent; the mute lapses by itself and alerts come back."""
    from pipeline.alerts.actions import mute

    with obj.store() as store, _action_errors("TARGET"):
        entry = mute(store, target, days, by, datetime.now(UTC), note)
    out.print(f"muted {escape(entry.target)} until {entry.until:%Y-%m-%d %H:%M} UTC (by {escape(by)})")
    return EXIT_OK


@alerts.command("unmute")
@click.argument("target")
@by_option
@note_option
@store_option
@click.pass_obj
@handle_errors
def alerts_unmute(obj: Context, target: str, by: str, note: str | None) -> int:
    """Lift the mute of TARGET (a country pair or an alert id) before it lapses."""
    from pipeline.alerts.actions import unmute

    with obj.store() as store, _action_errors("TARGET"):
        key = unmute(store, target, by, datetime.now(UTC), note)
    out.print(f"unmuted {escape(key)} (by {escape(by)})")
    return EXIT_OK


@alerts.command("export-feedback")
@click.argument("output", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@store_option
@click.pass_obj
@handle_errors
def alerts_export_feedback(obj: Context, output: Path) -> int:
    """Write the alerts analysts acknowledged or marked false positive to OUTPUT ("-": stdout) as labelled items
    in the real-news corpus format (docs/labelling.md); check each source's licence before `newswatch corpus
    add`."""
    import yaml

    from pipeline.alerts.actions import feedback_items

    with obj.store() as store:
        items = [i.model_dump(mode="json", exclude_defaults=False) for i in feedback_items(store)]
    text = yaml.safe_dump(items, sort_keys=False, allow_unicode=True, width=120)
    if str(output) == "-":
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"{len(items)} labelled item(s) -> {escape(str(output))}")
    return EXIT_OK


@alerts.command("preview")
@click.argument("rule_id")
@click.option("--html", "as_html", is_flag=True, help="Print the HTML part instead of the text part.")
@store_option
@click.pass_obj
@handle_errors
def alerts_preview(obj: Context, rule_id: str, as_html: bool) -> int:
    """Render the alerts RULE would send now, without sending or recording anything."""
    from pipeline.alerts import load_rules, render_alert, run_rule

    rules = {r.id: r for r in load_rules()}
    if rule_id not in rules:
        raise click.UsageError(f"no rule {rule_id!r}; rules: {', '.join(rules)}")
    with obj.store() as store:
        records, _ = run_rule(store, rules[rule_id], dry_run=True)
    if not records:
        err.print("nothing new for this rule")
    for record in records:
        subject, text, html = render_alert(record, rules[rule_id], obj.settings.kibana_public_url)
        click.echo(f"Subject: {subject}\n\n{html if as_html else text}\n")
    return EXIT_OK


@cli.group()
def es() -> None:
    """Elasticsearch: index template, alias and migrations."""


def _es_store(obj: Context) -> Any:
    from pipeline.stores.elasticsearch import ElasticsearchStore

    return ElasticsearchStore.from_settings(obj.settings.elasticsearch, setup=False)


@es.command("setup")
@json_option
@click.pass_obj
@handle_errors
def es_setup(obj: Context, as_json: bool) -> int:
    """Apply the index template, create the first index behind the alias, the state index, and the searchable
    alerts and feeds indices (idempotent)."""
    store = _es_store(obj)
    try:
        report = store.setup()
    finally:
        store.close()
    if as_json:
        emit_json(report)
    else:
        for key, value in report.items():
            out.print(f"{key:9} {escape(value)}")
    return EXIT_OK


@es.command("reindex")
@click.option("--delete-old", is_flag=True, help="Delete the previous index once the alias points to the new one.")
@json_option
@click.pass_obj
@handle_errors
def es_reindex(obj: Context, delete_old: bool, as_json: bool) -> int:
    """Copy all articles into a new index version from the current template; writers move to it first, so
    nothing written during the copy is lost."""
    store = _es_store(obj)
    try:
        store.setup()
        report = store.reindex(delete_old=delete_old)
    finally:
        store.close()
    if as_json:
        emit_json(report)
    else:
        out.print(
            f"{', '.join(report['from']) or '(none)'} -> {', '.join(report['to']) or '(none)'}: "
            f"{report['documents']} documents copied, {report['newer']} written meanwhile kept"
        )
    return EXIT_OK


def _keep_from(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from pipeline.stores.elasticsearch import months_before

    try:
        return months_before(value, datetime.now(UTC))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@es.command("prune")
@click.option(
    "--older-than",
    "keep_from",
    required=True,
    callback=_keep_from,
    help="A month (2025-06: drop the months before it) or an age (90d, 8w, 18m, 2y: drop the months that ended "
    "longer ago).",
)
@click.option("--dry-run", is_flag=True, help="List the indices that would be deleted; delete nothing.")
@json_option
@click.pass_obj
@handle_errors
def es_prune(obj: Context, keep_from: str, dry_run: bool, as_json: bool) -> int:
    """Delete the monthly article indices of old months (their articles leave search, Kibana and the alerts)."""
    store = _es_store(obj)
    try:
        report = store.prune(keep_from, dry_run=dry_run)
    finally:
        store.close()
    if as_json:
        emit_json({"keep_from": keep_from, "dry_run": dry_run, **report})
        return EXIT_OK
    verb = "would delete" if dry_run else "deleted"
    out.print(f"{verb} {len(report['deleted'])} index(es) of months before {keep_from}")
    for index in report["deleted"]:
        out.print(f"  {index}")
    for index in report["not_monthly"]:
        out.print(f"kept {index}: not monthly (it holds every month); `newswatch es reindex` spreads it into months")
    return EXIT_OK


@cli.group()
def kibana() -> None:
    """Kibana dashboards as code (config/kibana/): check them, import them."""


objects_option = click.option(
    "--file",
    "objects_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Saved objects (NDJSON); default config/kibana/newswatch.ndjson.",
)


@kibana.command("check")
@objects_option
@click.pass_obj
@handle_errors
def kibana_check(obj: Context, objects_file: Path | None) -> int:
    """Check the saved objects and the alerting rule against each other and the mappings of their data views."""
    from pipeline.kibana import check_objects, data_view_fields, load_objects, objects_path, rule_fields_used, rule_path
    from pipeline.stores.elasticsearch import es_config_dir

    path = objects_file or objects_path()
    fields = data_view_fields(es_config_dir())
    objects = load_objects(path)
    problems = check_objects(objects, fields)
    if rule_path().exists() and objects_file is None:
        rule = json.loads(rule_path().read_text(encoding="utf-8"))
        problems += [
            f"rule {rule_path().name}: field {f} is not in the index template's mapping"
            for f in sorted(rule_fields_used(rule) - set(fields["newswatch-articles"]))
        ]
    for problem in problems:
        err.print(f"[red]problem[/] {escape(problem)}")
    if problems:
        raise ConfigError(f"{path}: {len(problems)} problem(s), listed above")
    out.print(f"{len(objects)} saved objects in {escape(str(path))}: references and fields all resolve")
    return EXIT_OK


@kibana.command("import")
@objects_option
@click.option("--space", help="Kibana space to import into (default: the default space).")
@click.option("--no-overwrite", is_flag=True, help="Keep objects that already exist (reported as conflicts).")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(0),
    default=0,
    show_default=True,
    help="Wait up to this many seconds for Kibana to become available first.",
)
@click.option(
    "--rule",
    "with_rule",
    is_flag=True,
    help="Also create the Kibana alerting rule of config/kibana/ct-agreement-rule.json.",
)
@json_option
@click.pass_obj
@handle_errors
def kibana_import(
    obj: Context,
    objects_file: Path | None,
    space: str | None,
    no_overwrite: bool,
    wait_seconds: float,
    with_rule: bool,
    as_json: bool,
) -> int:
    """Import the dashboards into Kibana (saved-objects import API; KIBANA_URL, KIBANA_USERNAME/KIBANA_PASSWORD
    or KIBANA_API_KEY from the environment) and report what was created."""
    from pipeline.kibana import KibanaError, create_rule, import_objects, wait_until_available

    settings = obj.settings.kibana.resolved()
    if space:
        settings = settings.model_copy(update={"space": space})
    try:
        if wait_seconds:
            with err.status(f"waiting for Kibana at {escape(redact_url(settings.url or ''))}"):
                wait_until_available(settings, wait_seconds)
        report = import_objects(settings, objects_file, overwrite=not no_overwrite)
        if with_rule and report.ok:
            report.rule = create_rule(settings)
    except KibanaError as exc:
        err.print(f"[bold red]Kibana error:[/] {escape(str(exc))}")
        return EXIT_FAILED
    if as_json:
        emit_json(report.__dict__)
    else:
        table = Table(
            "result",
            "type",
            "id",
            "title",
            title=f"Kibana at {escape(redact_url(settings.url or ''))}",
            title_justify="left",
        )
        for label, rows in (("[green]created[/]", report.created), ("overwritten", report.overwritten)):
            for row in rows:
                table.add_row(label, row["type"], row["id"], escape(row["title"]))
        for row in report.errors:
            table.add_row("[red]failed[/]", row["type"], row["id"], escape(f"{row['title']}: {row['error']}"))
        out.print(table)
        out.print(
            f"{len(report.created)} created, {len(report.overwritten)} overwritten, {len(report.errors)} failed"
            + (f"; alerting rule {report.rule}" if report.rule else "")
        )
    return EXIT_OK if report.ok else EXIT_FAILED


def main() -> None:
    cli(prog_name="newswatch")
