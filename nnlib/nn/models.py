"""Sequential models, the report's MLP/CNN builders, initialisation, and npz save/load."""
from __future__ import annotations

import itertools
import json
import numbers
import zipfile
from pathlib import Path

import numpy as np

from .. import argcheck
from .._version import __version__
from ..errors import FieldError
from ..io import write_npz
from . import registry
from .layers import (
    DROPOUT_RATE,
    BatchNorm,
    Conv2D,
    Dropout,
    Flatten,
    Layer,
    Linear,
    MaxPool2D,
    Residual,
    conv_size,
    layer_from_config,
    walk,
)
from .layers import activation as activation_layer

INITS = ("normal0.1", "he", "xavier")
#: How a cnn's conv kernels are decayed: "decoupled" (``W *= 1 − lr·wd``, like every layer) or
#: "double" (the report's code: that, plus ``wd·W`` added to the kernel gradient).
CONV_DECAYS = ("decoupled", "double")
FORMAT = "nnlib-model/1"


class Sequential:
    """A stack of layers applied in order.

    Parameters are named ``"<layer index>.<param>"`` (``"1.W"``), like PyTorch's ``Sequential``;
    a Residual's carry its sublayer's path (``"3.branch.0.W"``).
    Layers up to and including the first one with parameters skip the input gradient (nobody
    reads it); ``backward`` returns None then.

    ``weight_decay`` and ``l2`` are ``{qualified weight name: value}`` (values > 0 only; PyTorch
    would call them parameter groups): the decoupled decay and the coupled L2 coefficient the
    optimizer applies to each weight. The builders (:func:`mlp`, :func:`cnn`) set them from
    their per-layer lists; an optimizer reads them once, when it is built.
    """

    def __init__(self, *layers: Layer):
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} is {type(layer).__name__}, not an nnlib Layer")
        self.layers = list(layers)
        for layer in self.layers:
            layer.needs_input_grad = False
            if layer.params:
                break
        self.training = True
        self.meta: dict = {}
        self.weight_decay: dict[str, float] = {}
        self.l2: dict[str, float] = {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    __call__ = forward

    def backward(self, dout: np.ndarray):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
            if dout is None:
                break
        return dout

    def parameters(self):
        """Yield ``(qualified_name, param, grad)`` for every parameter, in layer order."""
        for i, layer in enumerate(self.layers):
            for key, p in layer.params.items():
                yield f"{i}.{key}", p, layer.grads[key]

    def modules(self):
        """Every layer, depth first: a Residual, then the layers it is made of."""
        return walk(self.layers)

    def buffers(self):
        """Yield ``(qualified_name, buffer)``: the state saved with the model but not trained
        (BatchNorm's running statistics)."""
        for i, layer in enumerate(self.layers):
            for key, b in layer.buffers.items():
                yield f"{i}.{key}", b

    def num_parameters(self) -> int:
        return sum(p.size for _, p, _ in self.parameters())

    def train(self) -> Sequential:
        self.training = True
        for layer in self.layers:
            layer.training = True
        return self

    def eval(self) -> Sequential:
        self.training = False
        for layer in self.layers:
            layer.training = False
        return self

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Logits for ``x`` in eval mode, ``batch_size`` at a time; caches are dropped after."""
        was_training = self.training
        self.eval()
        try:
            outs = [self.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        finally:
            for layer in self.layers:
                layer.clear_cache()
            if was_training:
                self.train()
        return np.concatenate(outs) if outs else np.zeros((0, 0), dtype=np.float32)

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{qualified_name: copy}`` of every parameter and buffer."""
        state = {name: p.copy() for name, p, _ in self.parameters()}
        state.update({name: b.copy() for name, b in self.buffers()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the existing parameters and buffers (names and shapes must match
        exactly)."""
        own = {name: p for name, p, _ in self.parameters()}
        own.update(dict(self.buffers()))
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(f"state dict does not match the model: missing {missing}, "
                             f"unexpected {unexpected}")
        for name, p in own.items():
            arr = np.asarray(state[name])
            if arr.shape != p.shape:
                raise ValueError(f"parameter {name}: shape {arr.shape}, model has {p.shape}")
            p[...] = arr

    def architecture(self) -> list[dict]:
        """JSON-able description: one config dict per layer."""
        return [layer.config() for layer in self.layers]

    @property
    def dtype(self):
        for _, p, _ in self.parameters():
            return p.dtype
        return np.dtype(np.float32)

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __repr__(self):
        lines = [f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers)]
        return ("Sequential(\n" + "\n".join(lines) +
                f"\n)  # {self.num_parameters():,} parameters")

    def save(self, path) -> None:
        save(self, path)


def from_architecture(arch: list[dict], dtype=np.float32) -> Sequential:
    """Rebuild an (uninitialised) model from ``Sequential.architecture()`` (the weight decay of
    an older file's layer configs included)."""
    decays: dict[str, dict[int, float]] = {}
    model = Sequential(*(layer_from_config(cfg, dtype, decays) for cfg in arch))
    model.weight_decay = named(model, decays.get("weight_decay", {}))
    model.l2 = named(model, decays.get("l2", {}))
    return model


def named(model: Sequential, by_array: dict[int, float]) -> dict[str, float]:
    """``{qualified name: value}`` of the parameters in ``by_array`` (keyed by the ``id`` of
    the array: a builder knows its layers' arrays before the model names them) whose value is
    > 0."""
    return {name: by_array[id(p)] for name, p, _ in model.parameters()
            if by_array.get(id(p), 0) > 0}


# --- initialisation ----------------------------------------------------------------------------

def init_weights(model: Sequential, scheme: str = "he",
                 rng: np.random.Generator | None = None) -> Sequential:
    """Initialise every Linear/Conv2D weight in place; biases are set to 0.

    ``"normal0.1"``: N(0, 1)·0.1 (the lab report's); ``"he"``: N(0, 2/fan_in) (Kaiming, for ReLU
    family); ``"xavier"``: N(0, 2/(fan_in + fan_out)) (Glorot).
    """
    if scheme not in INITS:
        raise ValueError(f"init {scheme!r} is not one of {', '.join(INITS)}")
    rng = rng if rng is not None else np.random.default_rng(0)
    for layer in model.modules():
        if "W" not in layer.params:
            continue
        W = layer.params["W"]
        if isinstance(layer, Conv2D):
            receptive = W.shape[2] * W.shape[3]
            fan_in, fan_out = W.shape[1] * receptive, W.shape[0] * receptive
        else:
            fan_in, fan_out = W.shape
        std = {"normal0.1": 0.1, "he": np.sqrt(2.0 / fan_in),
               "xavier": np.sqrt(2.0 / (fan_in + fan_out))}[scheme]
        W[...] = rng.standard_normal(W.shape) * std
        layer.params["b"].fill(0)
    return model


# --- builders ----------------------------------------------------------------------------------

def per_layer(values, n: int, name: str = "weight_decay", what: str = "layer") -> list[float]:
    """One value per layer (a weight decay): None → zeros; a number → that value for all ``n``
    layers; a list → its ``n`` entries. Every value must be a finite number >= 0 (``FieldError``
    naming the entry otherwise)."""
    if values is None:
        return [0.0] * n
    if argcheck.is_number(values):
        return [argcheck.number(name, values, lo=0)] * n
    values = argcheck.listing(name, values, min_len=0)
    if len(values) != n:
        raise FieldError(name, values, f"must have {n} entr{'y' if n == 1 else 'ies'} "
                                       f"(one per {what})")
    return [argcheck.number(f"{name}[{i}]", v, lo=0) for i, v in enumerate(values)]


def widths(name: str, sizes, min_len: int = 2) -> list[int]:
    """Layer widths (``sizes``, ``channels``, ``linear_sizes``): at least ``min_len`` integers
    >= 1, as a list (``FieldError`` naming the entry otherwise)."""
    return [argcheck.integer(f"{name}[{i}]", v, lo=1)
            for i, v in enumerate(argcheck.listing(name, sizes, min_len))]


def conv_stages(channels, kernels, padding: int = 0, input_shape=(1, 28, 28)):
    """Check a cnn's conv stages: ``(channels, kernels as [kh, kw] pairs, padding, (C, H, W)
    after the last stage)``; ``FieldError`` naming the field (``channels[0]``, ``kernels[1]``,
    ...)."""
    channels = widths("channels", channels)
    if channels[0] != input_shape[0]:
        raise FieldError("channels[0]", channels[0],
                         f"must be {input_shape[0]} (the input's channels)")
    kernels = argcheck.listing("kernels", kernels, 1)
    if len(kernels) != len(channels) - 1:
        raise FieldError("kernels", kernels, f"must have {len(channels) - 1} entries (one per "
                                             f"conv layer, one fewer than the channels)")
    pairs = []
    for i, k in enumerate(kernels):
        if isinstance(k, (list, tuple)):
            if len(k) != 2:
                raise FieldError(f"kernels[{i}]", k, "must be an int or an [height, width] pair")
            pairs.append([argcheck.integer(f"kernels[{i}][{j}]", v, lo=1)
                          for j, v in enumerate(k)])
        else:
            k = argcheck.integer(f"kernels[{i}]", k, lo=1)
            pairs.append([k, k])
    padding = argcheck.integer("padding", padding, lo=0)
    return channels, pairs, padding, conv_output_shape(channels, pairs, padding, input_shape[1:])


def linear_widths(linear_sizes, conv_shape: tuple[int, int, int], stages: int) -> list[int]:
    """A cnn's ``linear_sizes``, checked: the first is the flattened output C·H·W of its
    ``stages`` conv+pool stages."""
    sizes = widths("linear_sizes", linear_sizes)
    c, h, w = conv_shape
    if sizes[0] != c * h * w:
        raise FieldError("linear_sizes[0]", sizes[0],
                         f"must be {c * h * w} (flattened conv output: {c} channels × {h}×{w} "
                         f"after {stages} conv+pool stages)")
    return sizes


def residual_counts(value, stages: int) -> int | list[int]:
    """A cnn's ``residual_blocks``: one count >= 0 for every stage, or one per stage."""
    if argcheck.is_number(value):
        return argcheck.integer("residual_blocks", value, lo=0)
    counts = argcheck.listing("residual_blocks", value, min_len=0)
    if len(counts) != stages:
        raise FieldError("residual_blocks", counts, f"must be one int or {stages} entries (one "
                                                    f"per conv stage)")
    return [argcheck.integer(f"residual_blocks[{i}]", b, lo=0) for i, b in enumerate(counts)]


def conv_output_shape(channels, kernels, padding: int = 0, size=(28, 28)) -> tuple[int, int, int]:
    """(C, H, W) after the conv stages of :func:`cnn`: conv (stride 1, ``padding``) then 2×2
    max-pool (floor). ``kernels``: [kh, kw] pairs or ints. A stage whose conv output is smaller
    than 2×2 raises ``FieldError`` naming ``kernels[i]``.

    E.g. channels [1, 6, 16], kernels 5, 5 → (16, 4, 4); [1, 32, 64], 3, 3, padding 1 → (64, 7, 7).
    """
    h, w = size
    for i, k in enumerate(kernels):
        kh, kw = (k, k) if isinstance(k, numbers.Integral) else k
        ch, cw = conv_size(h, kh, padding=padding), conv_size(w, kw, padding=padding)
        if ch < 2 or cw < 2:
            raise FieldError(f"kernels[{i}]", k, f"is too big for the {h}×{w} input of conv "
                                                f"stage {i + 1} (padding {padding}; the 2×2 pool "
                                                f"needs a conv output of at least 2×2)")
        h, w = ch // 2, cw // 2
    return channels[-1], h, w


def mlp(sizes, activation: str = "relu", init: str = "he", weight_decay=None,
        dropout: float = 0.0, batchnorm: bool = False, rng: np.random.Generator | None = None,
        dtype=np.float32) -> Sequential:
    """Multi-layer perceptron: Flatten, then Linear layers of ``sizes`` with (BatchNorm,) the
    activation (and Dropout) between them. Input (N, ...) flattening to (N, sizes[0]); output
    logits (N, sizes[-1]). ``weight_decay``: one value per Linear layer (or a scalar)."""
    sizes = widths("sizes", sizes)
    dropout = DROPOUT_RATE("dropout", dropout)
    batchnorm = argcheck.boolean("batchnorm", batchnorm)
    rng = rng if rng is not None else np.random.default_rng(0)
    wds = per_layer(weight_decay, len(sizes) - 1, "weight_decay", "Linear layer")
    decay: dict[int, float] = {}
    layers: list[Layer] = [Flatten()]
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        lin = Linear(n_in, n_out, dtype=dtype)
        decay[id(lin.params["W"])] = wds[i]
        layers.append(lin)
        if i < len(sizes) - 2:
            if batchnorm:
                layers.append(BatchNorm(n_out, dtype=dtype))
            layers.append(activation_layer(activation))
            if dropout:
                layers.append(Dropout(dropout, rng=np.random.default_rng(rng.integers(2**63))))
    model = Sequential(*layers)
    model.weight_decay = named(model, decay)
    return init_weights(model, init, rng)


def cnn(channels, kernels, linear_sizes, activation: str = "relu", init: str = "he",
        weight_decay=None, linear_weight_decay=None, padding: int = 0, dropout: float = 0.0,
        input_shape=(1, 28, 28), rng: np.random.Generator | None = None,
        dtype=np.float32, conv_decay: str = "decoupled", batchnorm: bool = False,
        residual_blocks=0) -> Sequential:
    """LeNet-like CNN: per stage Conv2D(kernel, stride 1, padding) → (BatchNorm →) activation →
    MaxPool2D(2) (→ residual blocks); then Flatten and Linear layers of ``linear_sizes`` with the
    activation (and Dropout) between. Input (N, C, H, W) = (N, *input_shape);
    ``linear_sizes[0]`` must equal the flattened size.

    ``residual_blocks``: per stage (or one int for all), that many ``Residual`` blocks after the
    stage's pooling, each ``x + [Conv 3×3 → (BatchNorm →) activation → Conv 3×3 (→
    BatchNorm)](x)`` followed by the activation: He et al. 2016's basic block, at the pooled
    resolution as in a ResNet stage (a quarter of the pixels: a block after the second pool of
    the 5×5 nets costs a fifth of one before it); 'same' padding keeps the shape; its convs are
    decayed like the stage's.

    ``conv_decay="double"`` decays the conv kernels as the report's code did: the decoupled
    ``weight_decay`` *and* the same value as a coupled L2 term in their gradient
    (``model.l2``).
    """
    if conv_decay not in CONV_DECAYS:
        raise FieldError("conv_decay", conv_decay, f"must be one of {', '.join(CONV_DECAYS)}")
    channels, kernels, padding, shape = conv_stages(channels, kernels, padding, input_shape)
    linear_sizes = linear_widths(linear_sizes, shape, len(kernels))
    blocks = residual_counts(residual_blocks, len(kernels))
    blocks = [blocks] * len(kernels) if isinstance(blocks, int) else blocks
    dropout = DROPOUT_RATE("dropout", dropout)
    batchnorm = argcheck.boolean("batchnorm", batchnorm)
    rng = rng if rng is not None else np.random.default_rng(0)
    conv_wd = per_layer(weight_decay, len(channels) - 1, "weight_decay", "conv layer")
    lin_wd = per_layer(linear_weight_decay, len(linear_sizes) - 1, "linear_weight_decay",
                       "Linear layer")

    decay: dict[int, float] = {}  # by the id of a weight array (see named())
    l2: dict[int, float] = {}

    def conv(c_in, c_out, k, pad, stage):
        layer = Conv2D(c_in, c_out, k, padding=pad, dtype=dtype)
        decay[id(layer.params["W"])] = conv_wd[stage]
        if conv_decay == "double":
            l2[id(layer.params["W"])] = conv_wd[stage]
        return layer

    def norm(c):
        return [BatchNorm(c, dtype=dtype)] if batchnorm else []

    layers: list[Layer] = []
    for i, k in enumerate(kernels):
        c = channels[i + 1]
        layers += [conv(channels[i], c, k, padding, i), *norm(c), activation_layer(activation),
                   MaxPool2D(2)]
        for _ in range(blocks[i]):
            branch = [conv(c, c, 3, 1, i), *norm(c), activation_layer(activation),
                      conv(c, c, 3, 1, i), *norm(c)]
            layers += [Residual(branch), activation_layer(activation)]
    layers.append(Flatten())
    for i, (n_in, n_out) in enumerate(itertools.pairwise(linear_sizes)):
        if dropout:
            layers.append(Dropout(dropout, rng=np.random.default_rng(rng.integers(2**63))))
        lin = Linear(n_in, n_out, dtype=dtype)
        decay[id(lin.params["W"])] = lin_wd[i]
        layers.append(lin)
        if i < len(linear_sizes) - 2:
            layers.append(activation_layer(activation))
    model = Sequential(*layers)
    model.weight_decay, model.l2 = named(model, decay), named(model, l2)
    return init_weights(model, init, rng)


#: The model types a config names, and the builder each calls. A type's config fields are its
#: builder's parameters (without ``BUILD_ARGS``), with the builder's defaults.
MODELS = {"mlp": mlp, "cnn": cnn}
BUILD_ARGS = ("rng", "dtype", "input_shape")


def build_model(cfg, rng: np.random.Generator | None = None, dtype=np.float32) -> Sequential:
    """Build from a ``ModelConfig`` (or a dict with the same normalised fields)."""
    params = dict(cfg) if isinstance(cfg, dict) else vars(cfg)
    kind = params.get("type", "mlp")
    if kind not in MODELS:
        raise ValueError(f"model.type {kind!r} is not one of {', '.join(MODELS)}")
    taken = registry.fields(MODELS[kind], skip=BUILD_ARGS)
    kwargs = {k: params[k] for k in taken if params.get(k) is not None}
    return MODELS[kind](**kwargs, rng=rng, dtype=dtype)


# --- save / load -------------------------------------------------------------------------------

def decay_map(name: str, value, params) -> dict[str, float]:
    """A weight-decay (or L2) map checked against the parameter names ``params``: ``{name of a
    weight ("<layer>.W"): number >= 0}`` (``FieldError`` naming the entry otherwise)."""
    if not isinstance(value, dict):
        raise FieldError(name, value, "must map weight names (\"<layer>.W\") to numbers >= 0")
    names = list(params)
    out = {}
    for key, v in value.items():
        if key not in names:
            raise FieldError(name, key, f"names no parameter of the model (it has {names})")
        if not str(key).endswith(".W"):
            raise FieldError(name, key, "is not a weight (decay applies to \"<layer>.W\" only)")
        out[key] = argcheck.number(f"{name}[{key!r}]", v, lo=0)
    return out


def save(model: Sequential, path) -> None:
    """Write ``model`` to one ``.npz``: ``param/<name>`` and ``buffer/<name>`` arrays + the
    architecture as JSON. Atomic: a crash mid-write leaves any previous file intact."""
    header = {"format": FORMAT, "nnlib_version": __version__, "dtype": str(model.dtype),
              "architecture": model.architecture(), "weight_decay": model.weight_decay,
              "l2": model.l2, "meta": model.meta}
    arrays = {f"param/{name}": p for name, p, _ in model.parameters()}
    arrays.update({f"buffer/{name}": b for name, b in model.buffers()})
    arrays["__header__"] = np.array(json.dumps(header))
    write_npz(path, arrays)


def load(path) -> Sequential:
    """Rebuild a model saved by :func:`save`. Never unpickles. A truncated, corrupt or
    inconsistent file raises ``ValueError`` naming it (``FileNotFoundError`` if missing)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise ValueError(f"{path}: not a readable nnlib model file ({exc})") from None
    if "__header__" not in arrays:
        raise ValueError(f"{path}: not an nnlib model file (no __header__ entry)")
    try:
        header = json.loads(str(arrays.pop("__header__")))
        if not isinstance(header, dict):
            raise TypeError(f"header is a JSON {type(header).__name__}, not an object")
        if header.get("format") != FORMAT:
            raise ValueError(f"format {header.get('format')!r}, expected {FORMAT!r}")
        model = from_architecture(header["architecture"], dtype=np.dtype(header["dtype"]))
        state = {k.split("/", 1)[1]: v for k, v in arrays.items()
                 if k.startswith(("param/", "buffer/"))}
        model.load_state_dict(state)
        model.meta = header.get("meta", {})
        for key in ("weight_decay", "l2"):  # older files: in the layers' configs (read above)
            if key in header:
                names = [name for name, _, _ in model.parameters()]
                setattr(model, key, decay_map(key, header[key], names))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: inconsistent nnlib model file ({exc})") from None
    return model
