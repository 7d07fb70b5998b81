"""`python -m bench [SUITE ...] [--large]`: run the benchmarks, merge their figures into bench/results.json, and
write bench/results.md (the table README shows) and bench/growth.png."""

from __future__ import annotations

import argparse

from bench import endtoend, load, polling, stores, tagging
from bench.results import save, write_report

SUITES = {
    "polling": polling.run,
    "tagging": tagging.run,
    "stores": stores.run,
    "endtoend": endtoend.run,
    "fullmode": endtoend.run_full,
    "load": load.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suites", nargs="*", choices=[[], *SUITES], default=[], help="which benchmarks (default: all)")
    parser.add_argument("--feeds", type=int, default=500, help="feeds for the polling benchmark")
    parser.add_argument("--articles", type=int, default=1000, help="corpus size for the tagging benchmark")
    parser.add_argument("--documents", type=int, default=5000, help="corpus size for the store benchmark")
    parser.add_argument("--e2e-articles", type=int, default=10_000, help="corpus size for the end-to-end pass")
    parser.add_argument("--cycles", type=int, default=30, help="cycles of the load benchmark (over --feeds feeds)")
    parser.add_argument("--large", action="store_true", help="growth up to 100,000 articles (about 10 more minutes)")
    args = parser.parse_args()
    for name in args.suites or SUITES:
        print(f"== {name}", flush=True)
        figures = SUITES[name](args)
        path = save(figures)
        for key, value in figures.items():
            print(f"{key:44} {value}", flush=True)
        print(f"written to {path}", flush=True)
    for path in write_report():
        print(f"written to {path}")


if __name__ == "__main__":
    main()
