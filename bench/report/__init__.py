"""Records -> documents: the comparison tables, knob analysis, accuracy parity, plots and the README's blocks.

Reads records only and runs nothing. May import `bench.run` and `bench.sweep` (their pure table helpers) and the
shared vocabulary; never `bench.gate` or `bench.cli`.
"""
