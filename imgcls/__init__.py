"""imgcls: a small image-classification library (data sources, augmentation, input pipelines, models).

It knows nothing of benchmarking; `bench/` measures it. Importing it first orders the native libraries that
would otherwise crash the process together (`imgcls.native_libs`).
"""

from imgcls.native_libs import load_triton_before_tensorflow

load_triton_before_tensorflow()
