"""Input pipelines: each declared once here (role, options preset, implementation), built by name.

Declaring imports no TensorFlow: an implementation module is imported when its pipeline is first built.
"""

from imgcls.pipelines.base import (
    BASELINE,
    CANDIDATE,
    CEILING,
    InputConfig,
    Pipeline,
    PipelineSpec,
    baseline_for,
    build_pipeline,
    get_pipeline_spec,
    implied_pipeline,
    list_pipelines,
    pipeline_specs,
    pipelines_with_role,
    record_readers,
    register_pipeline,
    role_of,
    workload_pipelines,
)
from imgcls.pipelines.options import (
    NAIVE,
    TUNED,
    DaliOptions,
    GrainOptions,
    IdgOptions,
    NoOptions,
    PyDatasetOptions,
    ServiceOptions,
    TorchOptions,
    UserOptions,
)

for _spec in (
    PipelineSpec(
        "idg",
        BASELINE,
        "Keras's legacy ImageDataGenerator (flow / flow_from_dataframe): the baseline",
        IdgOptions(),
        "imgcls.pipelines.idg:IdgPipeline",
        random_crop=False,
    ),
    PipelineSpec(
        "keras-layers",
        BASELINE,
        "image_dataset_from_directory + Keras preprocessing layers (resize 256, RandomCrop 224, RandomFlip): the "
        "baseline where ImageDataGenerator cannot render the workload (ImageNet's crops)",
        NoOptions(),
        "imgcls.pipelines.keras_layers:KerasLayersPipeline",
        crop_only=True,
    ),
    PipelineSpec(
        "tfdata-naive",
        CANDIDATE,
        "tf.data as a first port looks: sequential map, no prefetch, per-image augmentation",
        NAIVE,
        "imgcls.pipelines.tfdata:TfDataPipeline",
        tuning="naive",
        record_formats=("tfrecord",),
    ),
    PipelineSpec(
        "tfdata",
        CANDIDATE,
        "tf.data tuned: parallel map and prefetch autotuned, batched augmentation",
        TUNED,
        "imgcls.pipelines.tfdata:TfDataPipeline",
        tuning="tuned",
        record_formats=("tfrecord",),
    ),
    PipelineSpec(
        "tfdata-service",
        CANDIDATE,
        "the tuned tf.data graph run by tf.data service workers (local:N processes or a remote dispatcher)",
        ServiceOptions(),
        "imgcls.pipelines.tfdata_service:TfDataServicePipeline",
    ),
    PipelineSpec(
        "user",
        CANDIDATE,
        "your own pipeline (--pipeline-fn package.module:function), measured like the built-in ones",
        UserOptions(),
        "imgcls.pipelines.user:UserPipeline",
        implied_by="pipeline_fn",
        own_data=True,
    ),
    PipelineSpec(
        "pydataset",
        CANDIDATE,
        "a keras.utils.PyDataset (Keras's enqueuer workers) rendering the spec with IDG's numpy/PIL/scipy work",
        PyDatasetOptions(),
        "imgcls.pipelines.pydataset:PyDatasetPipeline",
        random_crop=False,
    ),
    PipelineSpec(
        "torch",
        CANDIDATE,
        "torch DataLoader over a map-style Dataset: torchvision.io.decode_jpeg + transforms.v2 (RandomAffine, flip)",
        TorchOptions(),
        "imgcls.pipelines.torch_loader:TorchPipeline",
        random_crop=False,
        requires=(
            # A matching pair from PyPI (torchvision is built against one torch release; its CUDA build runs on
            # a CPU-only machine). torchvision beside another torch fails to import, which `missing` reports.
            ("torch", "'torch==2.14.1' 'torchvision==0.29.1'"),
            ("torchvision", "'torch==2.14.1' 'torchvision==0.29.1'"),
        ),
    ),
    PipelineSpec(
        "grain",
        CANDIDATE,
        "Grain MapDataset -> IterDataset (worker processes, read threads) rendering the spec with numpy/scipy",
        GrainOptions(),
        "imgcls.pipelines.grain_loader:GrainPipeline",
        random_crop=False,
        record_formats=("arrayrecord",),
        requires=(("grain", "'grain>=0.2.18'"),),
    ),
    PipelineSpec(
        "dali",
        CANDIDATE,
        "NVIDIA DALI pipeline_def: readers.file + decoders.image (cpu, or nvJPEG 'mixed' on a GPU), "
        "transforms -> warp_affine, flip",
        DaliOptions(),
        "imgcls.pipelines.dali_loader:DaliPipeline",
        random_crop=False,
        requires=(("nvidia.dali", "'nvidia-dali-cuda120'"),),
    ),
    PipelineSpec(
        "synthetic",
        CEILING,
        "one constant preprocessed batch: the model alone, the ceiling",
        NoOptions(),
        "imgcls.pipelines.synthetic:SyntheticPipeline",
    ),
):
    register_pipeline(_spec)

__all__ = [
    "BASELINE",
    "CANDIDATE",
    "CEILING",
    "InputConfig",
    "Pipeline",
    "PipelineSpec",
    "baseline_for",
    "build_pipeline",
    "get_pipeline_spec",
    "implied_pipeline",
    "list_pipelines",
    "pipeline_specs",
    "pipelines_with_role",
    "record_readers",
    "register_pipeline",
    "role_of",
    "workload_pipelines",
]
