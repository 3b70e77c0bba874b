"""Input pipelines, registered by name. Importing this package registers every pipeline."""

from imgcls.pipelines import idg, synthetic, tfdata, tfdata_service  # noqa: F401  (registration side effect)
from imgcls.pipelines.base import InputConfig, Pipeline, build_pipeline, list_pipelines

__all__ = ["InputConfig", "Pipeline", "build_pipeline", "list_pipelines"]
