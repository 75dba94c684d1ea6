"""Helpers shared by the tests and the benchmarks (bench/): keyword-only factories
that build scenarios through the real rules, and a free local port. Not shipped."""
