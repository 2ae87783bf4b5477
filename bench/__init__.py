"""Benchmarks: scripts run by hand or by `make bench`, not tests (see bench/README.md)."""
