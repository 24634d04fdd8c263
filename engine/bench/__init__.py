"""Benchmarks against the shared measuring stick, and the mypyc (native) build of the order path."""
