"""bench.doctor.write: the prescription is the user's own command with the fix in place of what it replaces."""

from __future__ import annotations

from bench.config import RunConfig
from bench.doctor.clinic import Verified
from bench.doctor.write import prescription


def test_the_prescription_keeps_the_users_flags_and_replaces_the_fixed_one() -> None:
    config = RunConfig(
        workload="imagenette", pipeline="tfdata", model="examples.own_training:small_cnn", batch_size=16,
        pipeline_options={"private_threadpool": 1},
    )  # fmt: skip
    fix = Verified("private_threadpool=off", {"pipeline_options": {"private_threadpool": None}}, 1.0, 2.0)
    rx = prescription(config, fix, None)
    assert rx["command"] == (
        "python -m bench run --workload imagenette --pipeline tfdata --model examples.own_training:small_cnn "
        "--batch-size 16 --private-threadpool off"
    )
    assert rx["flags"] == ["--private-threadpool off"] and "private_threadpool_size = 0" in rx["code"][0]
