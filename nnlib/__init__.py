"""nnlib: a from-scratch NumPy neural-network library and the MNIST lab report built on it."""
__version__ = "0.1.0"
