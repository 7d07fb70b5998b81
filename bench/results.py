"""bench/results.json (one flat JSON object; every run merges its figures with the machine, versions and date),
and from it bench/results.md and bench/growth.png."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
REPORT = HERE / "results.md"
PLOT = HERE / "growth.png"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def versions() -> str:
    return ", ".join(f"{name} {version(name)}" for name in ("spacy", "feedparser", "httpx", "elasticsearch"))


def save(figures: dict[str, Any]) -> Path:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data.update(figures)
    data["machine"] = machine()
    data["versions"] = versions()
    data["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return RESULTS


def _rate(value: Any, unit: str) -> str:
    return f"{value:,.0f} {unit}" if isinstance(value, (int, float)) and value >= 100 else f"{value} {unit}"


def table(r: dict[str, Any]) -> str:
    """The Markdown table of README's Performance section: each figure next to its bound, as a ratio."""
    rows = [
        (
            "first poll, {poll_feeds} feeds / {poll_items:,} items ({poll_megabytes} MB) on 127.0.0.1",
            _rate(r.get("poll_items_per_s"), "items/s"),
            "feedparser on the same bytes in memory: " + _rate(r.get("poll_bound_feedparser_items_per_s"), "items/s"),
            r.get("poll_ratio"),
            "",
        ),
        (
            "re-poll, every feed answers 304",
            f"{r.get('repoll_500_seconds')} s for 500 feeds",
            "target 2 s",
            round(2 / r["repoll_500_seconds"], 2) if r.get("repoll_500_seconds") else None,
            "(2 s / measured)",
        ),
        (
            "tagging, fast mode ({tagging_corpus_articles:,} articles)",
            _rate(r.get("tagging_fast_articles_per_s"), "articles/s"),
            "spaCy nlp.pipe, same components: " + _rate(r.get("tagging_fast_spacy_pipe_articles_per_s"), "/s"),
            r.get("tagging_fast_ratio"),
            "target 0.8",
        ),
        (
            "tagging, full mode (the same CT-dense samples)",
            _rate(r.get("tagging_full_articles_per_s"), "articles/s"),
            "en_core_web_sm over every text: " + _rate(r.get("tagging_full_spacy_pipe_articles_per_s"), "/s"),
            r.get("tagging_full_ratio"),
            "target 1",
        ),
        (
            "Elasticsearch store upsert ({store_documents:,} tagged articles)",
            _rate(r.get("es_upsert_docs_per_s"), "docs/s"),
            "raw helpers.bulk of the same documents: " + _rate(r.get("es_raw_bulk_docs_per_s"), "docs/s"),
            r.get("es_upsert_ratio"),
            "target 0.9",
        ),
        ("SQLite store upsert", _rate(r.get("sqlite_upsert_docs_per_s"), "docs/s"), "", None, ""),
        (
            "end to end into SQLite ({end_to_end_articles:,} articles, fast tagging)",
            _rate(r.get("end_to_end_sqlite_articles_per_s"), "articles/s")
            + f", peak RSS {r.get('end_to_end_sqlite_peak_rss_mb')} MB",
            "tagging alone (spaCy nlp.pipe): " + _rate(r.get("end_to_end_bound_tagging_articles_per_s"), "articles/s"),
            r.get("end_to_end_sqlite_ratio"),
            "target 0.75",
        ),
        (
            "end to end into Elasticsearch",
            _rate(r.get("end_to_end_elasticsearch_articles_per_s"), "articles/s")
            + f", peak RSS {r.get('end_to_end_elasticsearch_peak_rss_mb')} MB",
            "the same tagging bound",
            r.get("end_to_end_elasticsearch_ratio"),
            "target 0.75",
        ),
        (
            "end to end into SQLite, full against fast tagging ({end_to_end_full_articles:,} articles, parser on "
            "{end_to_end_full_parsed_sentences} candidate sentences)",
            _rate(r.get("end_to_end_full_articles_per_s"), "articles/s")
            + f", peak RSS {r.get('end_to_end_full_peak_rss_mb')} MB",
            "fast mode, same run: " + _rate(r.get("end_to_end_fast_articles_per_s"), "articles/s"),
            r.get("end_to_end_full_vs_fast_ratio"),
            "target 0.5",
        ),
        ("growth, time per article ({growth_compared})", "", "", r.get("growth_time_ratio"), "target within 1.15"),
        ("growth, peak memory ({growth_compared})", "", "", r.get("growth_memory_ratio"), "target within 1.15"),
        (
            "load, {load_feeds} feeds x {load_cycles} cycles, 5% down: time per cycle",
            f"{r.get('load_cycle_seconds_last')} s (last third)",
            f"{r.get('load_cycle_seconds_middle')} s (second third)",
            r.get("load_cycle_time_growth"),
            "must not grow (within 1.15)",
        ),
        (
            "load: memory after a cycle",
            f"{r.get('load_rss_mb_last')} MB (last third)",
            f"{r.get('load_rss_mb_middle')} MB (second third)",
            r.get("load_memory_growth"),
            "must not grow (within 1.05)",
        ),
        (
            "load: feeds while down were polled",
            f"{r.get('load_down_polls')} times",
            f"in {r.get('load_down_feed_cycles')} feed-cycles down",
            r.get("load_down_poll_share"),
            "backoff: below 1",
        ),
        (
            "Celery, {scale_feeds} feeds on {scale_hosts} hosts, {scale_items_per_round:,} items a run, two workers",
            _rate(r.get("scale_two_workers_articles_per_s"), "articles/s"),
            "one worker, same run: " + _rate(r.get("scale_one_worker_articles_per_s"), "articles/s"),
            r.get("scale_two_vs_one_worker_ratio"),
            "2 cores shared by both",
        ),
        (
            "Celery: a worker and an Elasticsearch node killed mid-run (make scale-test)",
            f"{r.get('scale_run_with_kills_seconds')} s, tasks done again {r.get('scale_task_recover_seconds')} s "
            f"after the kill, cluster green {r.get('scale_es_recover_seconds')} s after the node's restart",
            "the two-worker run without kills",
            r.get("scale_run_with_kills_vs_two_workers_ratio"),
            f"{r.get('scale_checks_failed')} checks failed",
        ),
    ]
    lines = [
        f"{r.get('date')}, {r.get('machine')}; {r.get('versions')}.",
        "",
        "| what | Newswatch | bound (same run) | ratio | |",
        "|---|---|---|---|---|",
    ]
    for what, ours, bound, ratio, note in rows:
        try:
            what = what.format(**r)
        except (KeyError, ValueError):
            continue
        if ratio is None and ("None" in ours or not ours.strip()):
            continue  # not measured yet
        lines.append(f"| {what} | {ours} | {bound} | {ratio if ratio is not None else ''} | {note} |")
    if r.get("growth"):
        points = ", ".join(
            f"{g['articles']:,}: {g['ms_per_article']} ms/article, {g['peak_rss_mb']} MB" for g in r["growth"]
        )
        lines += ["", f"Growth curve (SQLite, fast tagging): {points} (`bench/growth.png`)."]
    return "\n".join(lines) + "\n"


def plot(r: dict[str, Any]) -> Path | None:
    if not r.get("growth"):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [g["articles"] for g in r["growth"]]
    fig, left = plt.subplots(figsize=(7, 4), dpi=110)
    left.plot(sizes, [g["ms_per_article"] for g in r["growth"]], "o-", color="tab:blue", label="time per article")
    left.set_xscale("log")
    left.set_xlabel("articles in the pass")
    left.set_ylabel("ms per article", color="tab:blue")
    left.set_ylim(bottom=0)
    right = left.twinx()
    right.plot(sizes, [g["peak_rss_mb"] for g in r["growth"]], "s--", color="tab:red", label="peak RSS")
    right.set_ylabel("peak RSS (MB)", color="tab:red")
    right.set_ylim(bottom=0)
    left.set_title(f"Newswatch pass, SQLite, fast tagging ({r.get('date')})")
    fig.tight_layout()
    fig.savefig(PLOT)
    plt.close(fig)
    return PLOT


def write_report(with_plot: bool = True) -> list[Path]:
    """bench/results.md and, `with_plot` (matplotlib, from requirements-bench.txt), bench/growth.png."""
    data = json.loads(RESULTS.read_text())
    REPORT.write_text(table(data))
    return [REPORT] + ([p] if with_plot and (p := plot(data)) else [])
