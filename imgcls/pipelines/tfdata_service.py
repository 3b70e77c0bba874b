"""`tfdata-service`: the tuned tf.data graph executed by tf.data service workers, streamed to the trainer.

The graph up to augmentation and batching runs on the workers (separate processes, or remote hosts); the trainer
only reads finished batches over gRPC and prefetches them. `service="local:N"` starts a dispatcher and N workers on
loopback for the run (`imgcls.service.LocalCluster`), `service="grpc://HOST:PORT"` uses an existing deployment.
Evaluation data is read locally (it is not what is being benchmarked).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from typing import Any

import tensorflow as tf

from imgcls.data.sources import DataSet
from imgcls.pipelines.base import InputConfig, register_pipeline
from imgcls.pipelines.tfdata import AUTOTUNE, TUNED, TfDataOptions, TfDataPipeline
from imgcls.service import LocalCluster, ServiceError, check_reachable, parse_service

SHARDING = ("off", "dynamic", "file", "data", "file_or_data", "hint")


@dataclass(frozen=True, kw_only=True)
class ServiceOptions:
    """tf.data service knobs; `sharding=None` follows the processing mode (off / dynamic)."""

    service: str = "local:2"
    processing_mode: str = "parallel_epochs"  # parallel_epochs | distributed_epoch
    sharding: str | None = None
    compression: str = "auto"  # auto | none
    connect_timeout_sec: float = 60.0  # how long a remote dispatcher may take to answer before a clear error

    def __post_init__(self) -> None:
        parse_service(self.service)
        if self.processing_mode not in ("parallel_epochs", "distributed_epoch"):
            raise ValueError(
                f"`processing_mode` must be parallel_epochs or distributed_epoch, got {self.processing_mode!r}"
            )
        if self.sharding is not None and self.sharding not in SHARDING:
            raise ValueError(f"`sharding` must be one of {', '.join(SHARDING)}, got {self.sharding!r}")
        if self.compression not in ("auto", "none"):
            raise ValueError(f"`compression` must be auto or none, got {self.compression!r}")

    @property
    def policy(self) -> Any:
        name = self.sharding or ("off" if self.processing_mode == "parallel_epochs" else "dynamic")
        return getattr(tf.data.experimental.service.ShardingPolicy, name.upper())


@dataclass(frozen=True)
class TfDataServicePipeline:
    name: str = "tfdata-service"
    opts: ServiceOptions = field(default_factory=ServiceOptions)
    input_opts: TfDataOptions = TUNED
    _state: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def options(self) -> dict[str, Any]:
        return {**asdict(self.opts), **{f"worker_{k}": v for k, v in asdict(self.input_opts).items()}}

    def dispatcher_address(self) -> str:
        """Starts the local cluster on first use (or checks the remote dispatcher answers); returns HOST:PORT."""
        if "address" not in self._state:
            kind, value = parse_service(self.opts.service)
            if kind == "local":
                cluster = LocalCluster(num_workers=int(value)).start()
                self._state["cluster"] = cluster
                self._state["address"] = cluster.dispatcher_address
            else:
                check_reachable(str(value), timeout_sec=self.opts.connect_timeout_sec)
                self._state["address"] = str(value)
        return self._state["address"]

    @property
    def server_pids(self) -> list[int]:
        cluster = self._state.get("cluster")
        return cluster.pids if cluster else []

    def close(self) -> None:
        cluster = self._state.pop("cluster", None)
        self._state.pop("address", None)
        if cluster is not None:
            cluster.close()

    def train_data(self, data: DataSet, config: InputConfig) -> tf.data.Dataset:
        inner = TfDataPipeline(name="tfdata-service-worker", opts=self.input_opts)
        endless = self.opts.processing_mode == "parallel_epochs"
        ds = inner._train_graph(data, config, endless=endless)
        ds = ds.apply(
            tf.data.experimental.service.distribute(
                processing_mode=self.opts.policy,
                service=f"grpc://{self.dispatcher_address()}",
                compression="AUTO" if self.opts.compression == "auto" else None,
            )
        )
        if not endless:
            ds = ds.repeat()  # each pass is one distributed epoch, split across the workers
        return ds.prefetch(AUTOTUNE if self.input_opts.prefetch is None else self.input_opts.prefetch)

    def eval_data(self, data: DataSet, config: InputConfig) -> tf.data.Dataset:
        return TfDataPipeline(name="tfdata-service-eval", opts=self.input_opts).eval_data(data, config)


def _factory(**overrides: Any) -> TfDataServicePipeline:
    service_fields = set(ServiceOptions.__dataclass_fields__)
    service = {k: v for k, v in overrides.items() if k in service_fields}
    inputs = {k: v for k, v in overrides.items() if k not in service_fields}
    from imgcls.pipelines.base import replace_options

    known = sorted(service_fields | set(TfDataOptions.__dataclass_fields__))
    unknown = sorted(set(inputs) - set(TfDataOptions.__dataclass_fields__))
    if unknown:
        raise ValueError(
            f"Pipeline 'tfdata-service' has no option {', '.join(unknown)}; its options: {', '.join(known)}"
        )
    try:
        opts = ServiceOptions(**service)
    except ServiceError as err:
        raise ValueError(str(err)) from None
    return TfDataServicePipeline(opts=opts, input_opts=replace_options(TUNED, inputs, "tfdata-service"))


register_pipeline("tfdata-service", functools.partial(_factory))
