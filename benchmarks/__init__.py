"""tokenward's benchmark suite: ``python -m benchmarks [--quick]`` (see docs/performance.md)."""
