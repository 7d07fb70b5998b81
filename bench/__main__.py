"""`python -m bench [tagging]`: run the benchmarks and merge their figures into bench/results.json."""

from __future__ import annotations

import argparse

from bench import stores, tagging
from bench.results import save

SUITES = {"tagging": tagging.run, "stores": stores.run}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suites", nargs="*", choices=[[], *SUITES], default=list(SUITES), help="which benchmarks")
    parser.add_argument("--articles", type=int, default=1000, help="corpus size for the tagging benchmark")
    parser.add_argument("--documents", type=int, default=5000, help="corpus size for the store benchmark")
    args = parser.parse_args()
    for name in args.suites or SUITES:
        figures = SUITES[name](args)
        path = save(figures)
        for key, value in figures.items():
            print(f"{key:32} {value}")
        print(f"written to {path}")


if __name__ == "__main__":
    main()
