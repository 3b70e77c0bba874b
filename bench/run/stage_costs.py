"""Per-stage analysis of a tf.data graph from the rates of its growing prefixes (pure; no TF).

The pipeline times its graph cut after each stage (read, decode, augment, prefetch when the graph has it),
each prefix on its own. A stage's *cost* is the time per image it adds to the prefix before it; the *slowest
stage* is the one with the largest cost -- not the prefix with the lowest rate, which is always the last.
"""

from __future__ import annotations


def stage_costs(rates: dict[str, float]) -> dict[str, float]:
    """Seconds per image each stage adds: `1/rate[stage] - 1/rate[previous]` (the first stage: `1/rate`).

    Prefix rates come from timing the graph cut after each stage (Plumber-style); a prefix can only be slower than
    the one before it, so the difference of inverse rates is what the stage itself costs. Noise can make a cost
    slightly negative; it is clipped to 0.
    """
    costs: dict[str, float] = {}
    previous = 0.0
    for name, rate in rates.items():
        if not rate or rate <= 0:
            continue
        costs[name] = max(0.0, 1.0 / rate - previous)
        previous = 1.0 / rate
    return costs


def slowest_stage(rates: dict[str, float]) -> str | None:
    """The stage that adds the most time per image -- where to look first."""
    costs = stage_costs(rates)
    return max(costs, key=lambda name: costs[name]) if costs else None
