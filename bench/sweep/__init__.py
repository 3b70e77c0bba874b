"""Many runs: TOML sweeps (`matrix`), core scaling and cache payoff points, each run in a fresh process.

May import `bench.run` and the shared vocabulary; never `bench.report`, `bench.gate` or `bench.cli`.
"""
