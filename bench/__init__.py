"""Benchmarks: each figure is reported next to a bound measured in the same run, as a ratio."""
