"""`--model SPEC`: the user's own model -- a `.keras` file, a `package.module:function`, or a `keras.applications`
name -- resolved to a Keras model the way a workload's own model is.

Three kinds, told apart by the spec's form (never by a list of names spread over the code): a path ending in
`.keras` (`keras.saving.load_model`, compiled if it was saved compiled), a `package.module:function` reference
(called with those of `input_shape`, `num_classes`, `weights` it names; returns a compiled or uncompiled
`keras.Model`), or an application from `APPLICATIONS`. Parsing a spec imports no framework (the CLI and a sweep's
parent check it first); building happens in the run, after the backend is set.

An application is what `keras.applications` builds with `include_top=False, pooling="avg"` and `weights=None`
(or `--weights PATH`, the application's no-top weights file), under a new float32 softmax head for the workload's
classes -- the same shape as the application's own top (global average pooling, one dense softmax layer), kept in
float32 so mixed precision leaves the loss stable. Its input size and value preprocessing are the application's
(`APPLICATIONS` declares them; tests/imgcls/test_model_specs.py checks them against Keras's own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgcls.errors import InvalidValue, UserFacingError, WeightsUnavailable
from imgcls.user_code import UserCodeError, call_with_known, import_callable, is_reference


@dataclass(frozen=True)
class Application:
    """One `keras.applications` model: its constructor, default input size and value preprocessing."""

    constructor: str  # attribute of keras.applications, e.g. "ResNet50"
    image_size: int  # the square size it was designed for (its `default_size`)
    preprocess: str  # key into imgcls.augment.PREPROCESSORS: what its own `preprocess_input` does
    module: str  # keras.applications submodule whose `preprocess_input` it uses (the tests compare)


def _family(names: dict[str, int], preprocess: str, module: str) -> dict[str, Application]:
    return {name.lower(): Application(name, size, preprocess, module) for name, size in names.items()}


APPLICATIONS: dict[str, Application] = {
    **_family({"VGG16": 224}, "caffe", "vgg16"),
    **_family({"VGG19": 224}, "caffe", "vgg19"),
    **_family({"ResNet50": 224, "ResNet101": 224, "ResNet152": 224}, "caffe", "resnet"),
    **_family({"ResNet50V2": 224, "ResNet101V2": 224, "ResNet152V2": 224}, "tf", "resnet_v2"),
    **_family({"MobileNet": 224}, "tf", "mobilenet"),
    **_family({"MobileNetV2": 224}, "tf", "mobilenet_v2"),
    **_family({"MobileNetV3Small": 224, "MobileNetV3Large": 224}, "raw", "mobilenet_v3"),
    **_family({"InceptionV3": 299}, "tf", "inception_v3"),
    **_family({"InceptionResNetV2": 299}, "tf", "inception_resnet_v2"),
    **_family({"Xception": 299}, "tf", "xception"),
    **_family({"NASNetMobile": 224, "NASNetLarge": 331}, "tf", "nasnet"),
    **_family({"DenseNet121": 224, "DenseNet169": 224, "DenseNet201": 224}, "torch", "densenet"),
    **_family(
        {f"EfficientNetB{i}": s for i, s in enumerate((224, 240, 260, 300, 380, 456, 528, 600))}, "raw", "efficientnet"
    ),
    **_family(
        {
            "EfficientNetV2B0": 224,
            "EfficientNetV2B1": 240,
            "EfficientNetV2B2": 260,
            "EfficientNetV2B3": 300,
            "EfficientNetV2S": 384,
            "EfficientNetV2M": 480,
            "EfficientNetV2L": 480,
        },
        "raw",
        "efficientnet_v2",
    ),  # fmt: skip
    **_family({f"ConvNeXt{s}": 224 for s in ("Tiny", "Small", "Base", "Large", "XLarge")}, "raw", "convnext"),
}


@dataclass(frozen=True)
class BuiltModel:
    """A resolved model and what the record says about it."""

    model: Any
    name: str  # the spec as given (what tables show)
    compiled: bool  # compiled by the user (their optimizer and loss are kept)


@dataclass(frozen=True)
class ModelSpec:
    """A parsed `--model` value: which kind, and what it fixes about the input before anything is built.

    `image_size` and `preprocess` are the model's own (an application's); None leaves the workload's.
    """

    text: str
    kind: str  # file | function | application
    image_size: tuple[int, int] | None = None
    preprocess: str | None = None

    def build(self, input_shape: tuple[int, int, int], num_classes: int, weights: str | None = None) -> BuiltModel:
        """The Keras model (imports Keras: call once the backend is set), checked against the input it will get.

        Raises:
            UserCodeError: the file or function does not give a Keras model, or one that cannot take
                `input_shape` or does not output `num_classes` probabilities; names the spec.
        """
        model = _BUILDERS[self.kind](self, input_shape, num_classes, weights)
        check_model(model, self.text, input_shape, num_classes)
        return BuiltModel(model, self.text, bool(getattr(model, "compiled", False)))


def parse_model_spec(text: Any) -> ModelSpec:
    """The spec's kind from its form; nothing imported.

    Raises:
        InvalidValue: a `.keras` file that does not exist, or text that is neither a file, a reference nor an
            application name (the known names listed).
    """
    if not isinstance(text, str) or not text:
        raise InvalidValue(f"expected a .keras file, package.module:function or an application, got {text!r}")
    if text.endswith(".keras"):
        if not Path(text).expanduser().is_file():
            raise InvalidValue(f"--model {text}: no such file")
        return ModelSpec(text, "file")
    if is_reference(text):
        return ModelSpec(text, "function")
    app = APPLICATIONS.get(text.lower())
    if app is None:
        raise InvalidValue(
            f"--model {text}: not a .keras file, a package.module:function or a keras.applications name "
            f"({', '.join(APPLICATIONS)})"
        )
    return ModelSpec(text, "application", (app.image_size, app.image_size), app.preprocess)


def model_spec_word(value: Any) -> str | None:
    """The `model` knob's parser: None (the workload's model) or a spec that parses."""
    if value is None or value == "workload":
        return None
    try:
        return parse_model_spec(value).text
    except InvalidValue as err:
        raise ValueError(str(err).removeprefix(f"--model {value}: ")) from None


# ---- builders, one per kind ----------------------------------------------------------------------------------
def _load_file(spec: ModelSpec, input_shape: tuple, num_classes: int, weights: str | None) -> Any:
    import keras

    try:
        return keras.saving.load_model(Path(spec.text).expanduser())
    except Exception as err:  # noqa: BLE001 - a file that is not a Keras model, in one line
        text = (str(err).strip().splitlines() or [""])[0][:200]
        raise UserCodeError(f"--model {spec.text}: not a loadable Keras model ({type(err).__name__}: {text})") from err


def _call_function(spec: ModelSpec, input_shape: tuple, num_classes: int, weights: str | None) -> Any:
    fn = import_callable(spec.text)
    return call_with_known(fn, spec.text, input_shape=input_shape, num_classes=num_classes, weights=weights)


def _application(spec: ModelSpec, input_shape: tuple, num_classes: int, weights: str | None) -> Any:
    import keras
    from keras import layers

    app = APPLICATIONS[spec.text.lower()]
    if weights not in (None, "none") and not Path(weights).expanduser().is_file():
        raise WeightsUnavailable(f"--weights {weights}: no such file (the {app.constructor} no-top weights file)")
    path = None if weights in (None, "none") else str(Path(weights).expanduser())
    constructor: Callable[..., Any] = getattr(keras.applications, app.constructor)
    try:
        base = constructor(include_top=False, weights=path, input_shape=input_shape, pooling="avg")
    except ValueError as err:  # too small an input, a weights file of another model
        raise UserFacingError(f"--model {spec.text}: {str(err).strip().splitlines()[0]}") from err
    inputs = keras.Input(input_shape)
    x = layers.Dense(num_classes)(base(inputs))
    outputs = layers.Activation("softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=app.constructor.lower())


_BUILDERS: dict[str, Callable[..., Any]] = {"file": _load_file, "function": _call_function, "application": _application}


def check_model(model: Any, name: str, input_shape: tuple[int, int, int], num_classes: int) -> None:
    """A Keras model with one image input that takes `input_shape` and `num_classes` outputs.

    Raises:
        UserCodeError: anything else, in one line naming `name`.
    """
    import keras

    if not isinstance(model, keras.Model):
        raise UserCodeError(f"{name} gave a {type(model).__name__}, not a keras.Model")
    try:
        expected = model.input_shape
    except (AttributeError, ValueError):  # a subclassed model not built yet: it takes what it is given
        return
    if isinstance(expected, list) or (expected and isinstance(expected[0], tuple | list)):
        raise UserCodeError(f"{name} takes {len(expected)} inputs; the harness feeds one image batch")
    wanted = (None, *input_shape)
    if len(expected) != len(wanted) or any(e is not None and e != w for e, w in zip(expected, wanted, strict=True)):
        raise UserCodeError(
            f"{name} takes input {tuple(expected)}, the run feeds {wanted}: pick the --workload (or --image-size) "
            "the model was made for"
        )
    outputs = model.output_shape
    if isinstance(outputs, tuple) and outputs and outputs[-1] not in (None, num_classes):
        raise UserCodeError(f"{name} outputs {outputs[-1]} classes, the workload's data has {num_classes}")
