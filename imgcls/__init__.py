"""imgcls: a small image-classification library (data sources, augmentation, input pipelines, models).

It knows nothing of benchmarking; `bench/` measures it.
"""
