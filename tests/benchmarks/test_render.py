"""pytest-benchmark: the two renderings of the spec's warp on one batch (160 px, batch 32): the projective op and
the row warp that tf.data takes for rotation-free matrices (the same samples; see tests/imgcls/test_augment.py)."""

from __future__ import annotations

import pytest
import tensorflow as tf

from imgcls import render_tf
from imgcls.workloads import get_workload


@pytest.mark.parametrize("warp", ["projective_warp", "row_warp"])
def test_warp_one_batch(benchmark, warp: str) -> None:
    spec = get_workload("imagenette").augment
    images = tf.random.stateless_uniform([32, 160, 160, 3], [1, 2], 0, 255)
    transforms = render_tf.random_transforms(spec, 32, 160, 160, tf.constant([3, 4], tf.int64))
    fn = tf.function(getattr(render_tf, warp))
    benchmark.group = "warp 32x160x160"
    out = benchmark.pedantic(lambda: fn(images, transforms).numpy(), rounds=10, warmup_rounds=2, iterations=1)
    assert out.shape == (32, 160, 160, 3)
    benchmark.extra_info.update({"warp": warp, "images_per_round": 32})
