"""Tests of `examples/`: each worked example runs as the README shows it."""
