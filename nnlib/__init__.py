"""nnlib: a from-scratch NumPy neural-network library and the MNIST lab report built on it."""
__version__ = "0.1.0"

from .nn.layers import (Conv2D, Dropout, Flatten, Layer, LeakyReLU, Linear, MaxPool2D,  # noqa: E402
                     ReLU, Sigmoid, Tanh)
from .nn.losses import CrossEntropyLoss  # noqa: E402
from .nn.metrics import accuracy, confusion_matrix  # noqa: E402
from .nn.models import Sequential, build_model, cnn, init_weights, load, mlp, save  # noqa: E402
from .nn.optim import SGD, Adam, Momentum  # noqa: E402
from .nn.schedules import ConstantLR, CosineLR, ExponentialLR, MultiStepLR, StepLR  # noqa: E402

__all__ = [
    "Layer", "Linear", "Conv2D", "MaxPool2D", "Flatten", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
    "Dropout", "CrossEntropyLoss", "accuracy", "confusion_matrix", "Sequential", "mlp", "cnn",
    "build_model", "init_weights", "save", "load", "SGD", "Momentum", "Adam", "StepLR",
    "MultiStepLR", "ExponentialLR", "CosineLR", "ConstantLR", "__version__",
]
