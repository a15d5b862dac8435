"""Residual connections (He et al. 2016): ``y = x + branch(x)``."""
from __future__ import annotations

from .base import Layer


def _forward(layers, x):
    for layer in layers:
        x = layer.forward(x)
    return x


def _backward(layers, dout):
    for layer in reversed(layers):
        dout = layer.backward(dout)
    return dout


class Residual(Layer):
    """``y = shortcut(x) + branch(x)``: the branch is a list of layers applied in order, the
    shortcut is the identity or, when the branch changes the shape, ``projection`` (e.g. a 1×1
    ``Conv2D`` or a ``Linear``, optionally followed by a ``BatchNorm``).

    x: any shape the branch takes; y: the branch's output shape, which the shortcut must match.
    The branch's and projection's parameters, gradients and buffers appear here under
    ``"branch.<i>.<name>"`` / ``"projection.<i>.<name>"`` (the same arrays, so optimizers and
    ``state_dict`` see them); ``training`` is passed on to every sublayer.
    """

    def __init__(self, branch, projection=None):
        self.branch = self._layers(branch, "branch")
        self.projection = (self._layers(projection, "projection")
                           if projection is not None else [])
        if not self.branch:
            raise ValueError("Residual needs a branch of at least one layer")
        super().__init__()
        for path, layer in self._named_sublayers():
            for what in ("params", "grads", "buffers"):
                getattr(self, what).update({f"{path}.{k}": v
                                            for k, v in getattr(layer, what).items()})

    def _named_sublayers(self):
        """``("branch.0", layer), ..., ("projection.0", layer), ...``: the prefix of each
        sublayer's names here."""
        for prefix, layers in (("branch", self.branch), ("projection", self.projection)):
            for i, layer in enumerate(layers):
                yield f"{prefix}.{i}", layer

    @staticmethod
    def _layers(layers, name: str) -> list[Layer]:
        layers = [layers] if isinstance(layers, Layer) else list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Residual {name}[{i}] is {type(layer).__name__}, "
                                f"not an nnlib Layer")
        return layers

    @property
    def training(self) -> bool:
        return self._training

    @training.setter
    def training(self, mode: bool) -> None:
        self._training = mode
        for layer in self.sublayers():
            layer.training = mode

    def sublayers(self):
        return self.branch + self.projection

    def forward(self, x):
        out = _forward(self.branch, x)
        shortcut = _forward(self.projection, x) if self.projection else x
        if out.shape != shortcut.shape:
            what = "projection" if self.projection else "input (no projection)"
            raise ValueError(f"Residual: the branch gives {out.shape} but the {what} gives "
                             f"{shortcut.shape}; add a projection that maps one to the other")
        return out + shortcut  # not in place: a branch may keep its output for backward

    def backward(self, dout):
        dx = _backward(self.branch, dout)
        if not self.needs_input_grad:
            if self.projection:
                _backward(self.projection, dout)  # its parameters' gradients
            return None
        return dx + (_backward(self.projection, dout) if self.projection else dout)

    def clear_cache(self):
        for layer in self.sublayers():
            layer.clear_cache()

    def config(self):
        return {"type": "Residual", "branch": [layer.config() for layer in self.branch],
                "projection": ([layer.config() for layer in self.projection]
                               if self.projection else None)}

    @classmethod
    def from_config(cls, cfg: dict, build) -> Residual:
        """Rebuild from :meth:`config` output; ``build(layer_cfg)`` makes each sublayer."""
        unknown = set(cfg) - {"branch", "projection"}
        if unknown or not isinstance(cfg.get("branch"), list):
            raise ValueError(f"Residual config needs a 'branch' list of layer configs (and an "
                             f"optional 'projection' list), got keys {sorted(cfg)}")
        projection = cfg.get("projection")
        return cls([build(c) for c in cfg["branch"]],
                   [build(c) for c in projection] if projection else None)

    def extra_repr(self):
        inner = ", ".join(repr(layer) for layer in self.branch)
        proj = ", ".join(repr(layer) for layer in self.projection)
        return f"[{inner}]" + (f", projection=[{proj}]" if proj else "")
