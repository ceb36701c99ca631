"""Benchmarks (`python -m bench.latency`, `python -m bench.train_speed`); not installed with the package."""
