"""The experiment machinery: configs (our schema and the report's), MNIST data and splits,
augmentation, the trainer, cached runs and grids (``experiments``) and every protocol of the lab
report (``recipes``). Everything here can change a result, so the run cache hashes this package
and ``nnlib.nn``."""
