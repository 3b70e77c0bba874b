"""`bench doctor`: names a run's bottleneck from its measurements, predicts each fix with a stated model, verifies the
best ones in fresh processes and prescribes the winner (flags and the lines for a user's own tf.data code).

May import `bench.run`, `bench.sweep`, `bench.report` and the shared vocabulary; never `bench.gate` or `bench.cli`.
"""
