"""Tests of `imgcls/`: data, augmentation, pipelines, models and the tf.data service."""
