"""End to end and growth: a synthetic corpus (bench/corpus.py) served as feeds of 100 items on 127.0.0.1, through
the whole pass (fetch, parse, normalise, dedup, tag in fast mode, store) into each store.

Each pass runs in a fresh child process, so that its peak RSS is its own. The bound is the heaviest stage
alone: spaCy's nlp.pipe with the fast mode's components over the same titles and texts, in the same run;
end_to_end_ratio = pass articles/s / bound articles/s shows the pipeline's own overhead. Growth repeats the
SQLite pass at 1,000 and 10,000 articles (and 100,000 with --large): per-article time and peak memory
should stay flat, since a pass works a chunk of feeds at a time inside spaCy memory zones.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.corpus import articles, write_feeds
from bench.feedhost import FeedHost
from pipeline.config import PROJECT_DIR

ITEMS_PER_FEED = 100


def tagging_bound(count: int) -> float:
    """Articles/s of spaCy's nlp.pipe alone (fast-mode components) over the corpus's titles and texts."""
    from pipeline.tagging import Tagger

    tagger = Tagger("fast", str(PROJECT_DIR / "config"))
    texts = [t for a in articles(count) for t in (a.title, a.text)]
    with tagger.nlp.memory_zone():
        list(tagger.nlp.pipe(texts[:200]))  # warm up
    started = time.perf_counter()
    for start in range(0, len(texts), 2000):  # memory zones, as the tagger uses them
        with tagger.nlp.memory_zone():
            for _ in tagger.nlp.pipe(texts[start : start + 2000], batch_size=tagger.batch_size):
                pass
    return count / (time.perf_counter() - started)


def one_pass(
    feed_list: Path, store: str, home: Path, mode: str = "fast", profile: Path | None = None
) -> dict[str, Any]:
    """The pass itself (runs in the child process), tagging in `mode`."""
    from pipeline.config import ElasticsearchSettings, FeedConfig, load_settings
    from pipeline.run import run_pass
    from pipeline.stores import open_store
    from pipeline.tagging import tagger_for

    settings = load_settings(home=home, tagging={"mode": mode})
    settings = settings.model_copy(
        update={"http": settings.http.model_copy(update={"per_host_concurrency": settings.http.concurrency})}
    )  # all feeds share one loopback host
    feeds = [FeedConfig.model_validate(f) for f in json.loads(feed_list.read_text())]
    if store == "elasticsearch":
        from pipeline.stores.elasticsearch import ElasticsearchStore

        target: Any = ElasticsearchStore.from_settings(
            ElasticsearchSettings(url=os.environ["ELASTICSEARCH_URL"], index_prefix=f"nwbench-{uuid.uuid4().hex[:8]}")
        )
    else:
        target = open_store(f"sqlite:///{home / 'bench.db'}")
    tagger = tagger_for(settings)
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    started = time.perf_counter()
    try:
        summary = run_pass(settings, feeds, target, tag=tagger)
        seconds = time.perf_counter() - started
    finally:
        if profiler:
            profiler.stop()
            profile.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        if store == "elasticsearch":
            target.drop()
        target.close()
    return {
        "seconds": seconds,
        "stored": summary.stored,
        "entries": summary.entries,
        "peak_rss_mb": peak_rss_mb(),
        "parsed_sentences": tagger.parsed_sentences if tagger else 0,
    }


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: Linux carries that over execve,
    so a child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(count: int, store: str, tmp: Path, profile: Path | None = None, mode: str = "fast") -> dict[str, Any]:
    """Serve `count` articles as feeds and run one pass over them in a child process, tagging in `mode`."""
    folder = tmp / f"feeds-{count}"
    sizes = [ITEMS_PER_FEED] * (count // ITEMS_PER_FEED)
    if not folder.exists():
        write_feeds(folder, sizes)
    with FeedHost(folder) as host:
        feed_list = tmp / f"feeds-{count}-{store}.json"
        names = sorted(p.name for p in folder.iterdir())
        feed_list.write_text(json.dumps([{"id": f"f{i}", "name": n, "url": host.url(n)} for i, n in enumerate(names)]))
        home = Path(tempfile.mkdtemp(dir=tmp, prefix=f"home-{store}-"))
        command = [sys.executable, "-m", "bench.endtoend", "--child", str(feed_list), store, str(home), mode]
        if profile:
            command.append(str(profile))
        done = subprocess.run(command, capture_output=True, text=True, timeout=7200)
    if done.returncode != 0:
        raise RuntimeError(f"end-to-end pass ({count}, {store}) failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["stored"] == count, f"stored {result['stored']} of {count}"
    result["articles_per_s"] = count / result["seconds"]
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.stores import es_url

    os.environ.setdefault("ELASTICSEARCH_URL", es_url())
    figures: dict[str, Any] = {"end_to_end_articles": args.e2e_articles, "end_to_end_tagging": "fast"}
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp_name:
        tmp = Path(tmp_name)
        bound = tagging_bound(args.e2e_articles)
        figures["end_to_end_bound_tagging_articles_per_s"] = round(bound, 1)
        for store in ("sqlite", "elasticsearch"):
            result = measure(args.e2e_articles, store, tmp)
            figures[f"end_to_end_{store}_articles_per_s"] = round(result["articles_per_s"], 1)
            figures[f"end_to_end_{store}_peak_rss_mb"] = round(result["peak_rss_mb"], 1)
            figures[f"end_to_end_{store}_ratio"] = round(result["articles_per_s"] / bound, 3)
        figures["end_to_end_ratio"] = figures["end_to_end_sqlite_ratio"]
        sizes = [1000, 10_000] + ([100_000] if args.large else [])
        curve = []
        for size in sizes:
            result = measure(size, "sqlite", tmp)
            curve.append(
                {
                    "articles": size,
                    "ms_per_article": round(1000 * result["seconds"] / size, 3),
                    "peak_rss_mb": round(result["peak_rss_mb"], 1),
                }
            )
    figures["growth"] = curve
    last, before = curve[-1], curve[-2]
    figures["growth_time_ratio"] = round(last["ms_per_article"] / before["ms_per_article"], 3)
    figures["growth_memory_ratio"] = round(last["peak_rss_mb"] / before["peak_rss_mb"], 3)
    figures["growth_compared"] = f"{last['articles']} vs {before['articles']} articles"
    return figures


def run_full(args: argparse.Namespace) -> dict[str, Any]:
    """Full mode (statistical model where an event can be) against fast mode, end to end into SQLite, in the
    same run: end_to_end_full_vs_fast_ratio = full articles/s / fast articles/s."""
    figures: dict[str, Any] = {"end_to_end_full_articles": args.e2e_articles}
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp_name:
        tmp = Path(tmp_name)
        fast = measure(args.e2e_articles, "sqlite", tmp, mode="fast")
        full = measure(args.e2e_articles, "sqlite", tmp, mode="full")
    figures["end_to_end_fast_articles_per_s"] = round(fast["articles_per_s"], 1)
    figures["end_to_end_full_articles_per_s"] = round(full["articles_per_s"], 1)
    figures["end_to_end_full_vs_fast_ratio"] = round(full["articles_per_s"] / fast["articles_per_s"], 3)
    figures["end_to_end_full_peak_rss_mb"] = round(full["peak_rss_mb"], 1)
    figures["end_to_end_fast_peak_rss_mb"] = round(fast["peak_rss_mb"], 1)
    figures["end_to_end_full_parsed_sentences"] = full["parsed_sentences"]
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        profile_path = Path(sys.argv[6]) if len(sys.argv) > 6 else None
        print(json.dumps(one_pass(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]), sys.argv[5], profile_path)))
