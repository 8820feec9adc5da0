"""Benchmarks: `python -m bench [NAME ...]` runs bench/bench_NAME.py, prints a table, writes JSON."""
