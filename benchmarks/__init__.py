"""Benchmarks: they print figures and assert nothing (the tests assert behaviour)."""
