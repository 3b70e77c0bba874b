"""The CI regression gate: what it measures (`cases`, pytest-benchmark streams) and the ratios it demands (`rules`).

May import `bench.run`, `bench.report` (the benchmark JSON reader) and the shared vocabulary; never `bench.cli`.
"""
