"""`--model`: a .keras file, a function or an application; each error one line naming the spec; an application's
declared input size and preprocessing are Keras's own."""

from __future__ import annotations

import importlib
from pathlib import Path

import keras
import numpy as np
import pytest

from imgcls.augment import PREPROCESSORS
from imgcls.errors import InvalidValue
from imgcls.model_specs import APPLICATIONS, parse_model_spec
from imgcls.user_code import UserCodeError

FNS = "tests.imgcls.user_fns"


def test_the_kind_comes_from_the_form_of_the_spec(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    path.write_text("")
    assert parse_model_spec(str(path)).kind == "file"
    assert parse_model_spec(f"{FNS}:small_model").kind == "function"
    resnet = parse_model_spec("ResNet50")
    assert (resnet.kind, resnet.image_size, resnet.preprocess) == ("application", (224, 224), "caffe")


@pytest.mark.parametrize(
    ("text", "words"), [("missing.keras", "no such file"), ("resnet5", "not a .keras file, a package.module")]
)
def test_a_spec_that_is_nothing_known_is_one_line(text: str, words: str) -> None:
    with pytest.raises(InvalidValue, match=words) as error:
        parse_model_spec(text)
    assert "\n" not in str(error.value)
    if text == "resnet5":
        assert "resnet50" in str(error.value) and "mobilenetv3small" in str(error.value)


def test_a_function_model_is_built_with_the_runs_shape_and_keeps_its_own_compile() -> None:
    built = parse_model_spec(f"{FNS}:small_model").build((32, 32, 3), 10)
    assert built.model.input_shape == (None, 32, 32, 3) and not built.compiled
    assert parse_model_spec(f"{FNS}:compiled_model").build((32, 32, 3), 10).compiled


@pytest.mark.parametrize(
    ("fn", "words"),
    [
        ("not_a_model", "gave a str, not a keras.Model"),
        ("fixed_input_model", "takes input (None, 64, 64, 3), the run feeds (None, 32, 32, 3)"),
        ("no_such_fn", "has no attribute 'no_such_fn'"),
    ],
)
def test_a_function_that_gives_no_usable_model_is_one_line_naming_it(fn: str, words: str) -> None:
    with pytest.raises(UserCodeError) as error:
        parse_model_spec(f"{FNS}:{fn}").build((32, 32, 3), 10)
    assert words in str(error.value) and f"{FNS}:{fn}" in str(error.value)


def test_a_keras_file_loads_compiled_and_a_non_model_file_is_one_line(tmp_path: Path) -> None:
    from tests.imgcls.user_fns import compiled_model

    path = tmp_path / "mine.keras"
    compiled_model((32, 32, 3), 10).save(path)
    built = parse_model_spec(str(path)).build((32, 32, 3), 10)
    assert built.compiled and built.model.count_params() == 3 * 10 + 10
    junk = tmp_path / "junk.keras"
    junk.write_text("not a zip")
    with pytest.raises(UserCodeError, match="junk.keras: not a loadable Keras model"):
        parse_model_spec(str(junk)).build((32, 32, 3), 10)
    with pytest.raises(UserCodeError, match="outputs 10 classes, the workload's data has 5"):
        parse_model_spec(str(path)).build((32, 32, 3), 5)


@pytest.mark.parametrize("module", sorted({app.module for app in APPLICATIONS.values()}))
def test_each_applications_preprocessing_is_its_own_preprocess_input(module: str) -> None:
    """The declared preprocessing (plain arithmetic a tf.data graph can run) equals Keras's `preprocess_input`."""
    (preprocess,) = {app.preprocess for app in APPLICATIONS.values() if app.module == module}
    keras_own = importlib.import_module(f"keras.applications.{module}").preprocess_input
    batch = np.random.default_rng(0).uniform(0, 255, (2, 5, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(PREPROCESSORS[preprocess](batch.copy()), keras_own(batch.copy()), atol=1e-4)


@pytest.mark.parametrize("name", ["mobilenetv2", "efficientnetb1", "inceptionv3"])
def test_an_applications_declared_input_size_is_the_one_keras_builds_it_for(name: str) -> None:
    app = APPLICATIONS[name]
    model = getattr(keras.applications, app.constructor)(weights=None)  # include_top: its default size
    assert model.input_shape[1:3] == (app.image_size, app.image_size)


def test_an_application_gets_a_float32_softmax_head_for_the_workloads_classes() -> None:
    built = parse_model_spec("mobilenetv3small").build((96, 96, 3), 7)
    assert built.model.output_shape == (None, 7) and not built.compiled
    assert built.model.layers[-1].dtype_policy.compute_dtype == "float32"
    with pytest.raises(Exception, match="no such file"):
        parse_model_spec("mobilenetv3small").build((96, 96, 3), 7, weights="/nope.h5")
