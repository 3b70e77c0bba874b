"""`tfdata-service`: the tuned tf.data graph executed by tf.data service workers, streamed to the trainer.

The graph up to augmentation and batching runs on the workers (separate processes, or remote hosts); the trainer
only reads finished batches over gRPC and prefetches them. `service="local:N"` starts a dispatcher and N workers on
loopback for the run (`imgcls.service.LocalCluster`), `service="grpc://HOST:PORT"` uses an existing deployment.
Evaluation data is read locally (it is not what is being benchmarked).

In `parallel_epochs` mode every worker runs the whole graph. Seeded alike, N workers would send N copies of every
batch, so each worker's stream is set apart by a nonce drawn when the worker starts it (the time in microseconds,
read on the worker): the source is rotated by it and it is mixed into the augmentation seed. In `distributed_epoch`
mode the dispatcher hands each file/element to one worker (dynamic sharding), so streams are disjoint by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import tensorflow as tf

from imgcls.data.types import DataSet
from imgcls.options import AUTOTUNE
from imgcls.pipelines.base import InputConfig, Pipeline
from imgcls.pipelines.options import ServiceOptions
from imgcls.pipelines.tfdata import TfDataPipeline
from imgcls.service import LocalCluster, check_reachable, parse_service


def _sharding_policy(options: ServiceOptions) -> Any:
    name = options.sharding or ("off" if options.processing_mode == "parallel_epochs" else "dynamic")
    return getattr(tf.data.experimental.service.ShardingPolicy, name.upper())


@dataclass(frozen=True)
class TfDataServicePipeline(Pipeline):
    name: str = "tfdata-service"
    opts: ServiceOptions = field(default_factory=ServiceOptions)
    _state: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

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

    def _worker_pipeline(self) -> TfDataPipeline:
        return TfDataPipeline(name=f"{self.name}-worker", opts=self.opts.worker_options())

    def train_data(self, data: DataSet, config: InputConfig) -> tf.data.Dataset:
        inner = self._worker_pipeline()
        endless = self.opts.processing_mode == "parallel_epochs"
        if endless:

            def per_worker_stream(nonce: tf.Tensor) -> tf.data.Dataset:
                return inner.train_graph(data, config, endless=True, stream=nonce)

            nonce = tf.data.Dataset.from_tensors(0).map(lambda _: tf.cast(tf.timestamp() * 1e6, tf.int64))
            ds = nonce.flat_map(per_worker_stream)
        else:
            ds = inner.train_graph(data, config, endless=False)
        ds = ds.apply(
            tf.data.experimental.service.distribute(
                processing_mode=_sharding_policy(self.opts),
                service=f"grpc://{self.dispatcher_address()}",
                compression="AUTO" if self.opts.compression == "auto" else None,
            )
        )
        if not endless:
            ds = ds.repeat()  # each pass is one distributed epoch, split across the workers
        return ds.prefetch(AUTOTUNE if self.opts.prefetch is None else self.opts.prefetch)

    def eval_data(self, data: DataSet, config: InputConfig) -> tf.data.Dataset:
        return self._worker_pipeline().eval_data(data, config)
