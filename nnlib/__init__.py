"""nnlib: a from-scratch NumPy neural-network library and the MNIST lab report built on it.

The network math lives in ``nnlib.nn`` and its public names are re-exported here
(``nnlib.Linear``, ``nnlib.mlp``, ``nnlib.save``, ...); the experiment machinery is ``nnlib.lab``,
the report ``nnlib.report``.
"""
from ._version import __version__
from .nn.ensemble import Ensemble
from .nn.layers import (
    BatchNorm,
    Conv2D,
    Dropout,
    Flatten,
    Layer,
    LeakyReLU,
    Linear,
    MaxPool2D,
    ReLU,
    Residual,
    Sigmoid,
    Tanh,
)
from .nn.losses import CrossEntropyLoss
from .nn.metrics import accuracy, confusion_matrix
from .nn.models import Sequential, build_model, cnn, init_weights, load, mlp, save
from .nn.optim import SGD, Adam, Momentum
from .nn.schedules import ConstantLR, CosineLR, ExponentialLR, MultiStepLR, StepLR

__all__ = [
    "SGD", "Adam", "BatchNorm", "ConstantLR", "Conv2D", "CosineLR", "CrossEntropyLoss",
    "Dropout", "Ensemble", "ExponentialLR", "Flatten", "Layer", "LeakyReLU", "Linear",
    "MaxPool2D", "Momentum", "MultiStepLR", "ReLU", "Residual", "Sequential", "Sigmoid",
    "StepLR", "Tanh", "__version__", "accuracy",
    "build_model", "cnn", "confusion_matrix", "init_weights", "load", "mlp", "save",
]
