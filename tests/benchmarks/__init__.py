"""pytest-benchmark benchmarks: pipelines, rendering and the harness overhead (the CI gate reads their JSON)."""
