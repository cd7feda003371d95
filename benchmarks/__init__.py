"""Benchmarks and fuzzing harnesses for diskkit (run outside CI; see docs/reliability.md)."""
