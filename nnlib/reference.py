"""The lab report's published numbers (test set), as data. Source: the report "Neural Network
lab 1" (digested in ../shared/SEED_REPORT.md). Accuracy is the report's "score"."""
from __future__ import annotations

# Experiment 1: activation (MLP [784,1000,10], wd 1e-4, momentum lr 0.01, 20 epochs).
ACTIVATION = {
    "sigmoid": {"loss": 0.2945, "accuracy": 0.9124},
    "relu": {"loss": 0.1968, "accuracy": 0.9427},
    "leakyrelu": {"loss": 0.1977, "accuracy": 0.9423},
}

# Experiment 2: optimizer (same as 1 with LeakyReLU).
OPTIMIZER = {
    "sgd": {"loss": 0.2548, "accuracy": 0.9225},
    "momentum": {"loss": 0.1977, "accuracy": 0.9423},
}

# Experiment 3: grid search on 10k train / 2k valid; (lr, hidden, wd) → (loss, accuracy).
GRID = {
    (1e-1, 500, 1e-2): (0.267, 0.9203), (1e-1, 500, 1e-3): (0.163, 0.9581),
    (1e-1, 500, 1e-4): (0.186, 0.9611), (1e-1, 1000, 1e-2): (0.167, 0.9465),
    (1e-1, 1000, 1e-3): (0.160, 0.9595), (1e-1, 1000, 1e-4): (0.186, 0.9578),
    (1e-1, 2000, 1e-2): (0.162, 0.9515), (1e-1, 2000, 1e-3): (0.151, 0.9611),
    (1e-1, 2000, 1e-4): (0.182, 0.9611), (1e-2, 500, 1e-2): (0.182, 0.9441),
    (1e-2, 500, 1e-3): (0.192, 0.9436), (1e-2, 500, 1e-4): (0.190, 0.9436),
    (1e-2, 1000, 1e-2): (0.182, 0.9449), (1e-2, 1000, 1e-3): (0.193, 0.9441),
    (1e-2, 1000, 1e-4): (0.197, 0.9439), (1e-2, 2000, 1e-2): (0.178, 0.9447),
    (1e-2, 2000, 1e-3): (0.200, 0.9459), (1e-2, 2000, 1e-4): (0.215, 0.9420),
    (1e-3, 500, 1e-2): (0.289, 0.9165), (1e-3, 500, 1e-3): (0.276, 0.9187),
    (1e-3, 500, 1e-4): (0.275, 0.9192), (1e-3, 1000, 1e-2): (0.258, 0.9235),
    (1e-3, 1000, 1e-3): (0.264, 0.9200), (1e-3, 1000, 1e-4): (0.255, 0.9251),
    (1e-3, 2000, 1e-2): (0.243, 0.9269), (1e-3, 2000, 1e-3): (0.244, 0.9261),
    (1e-3, 2000, 1e-4): (0.252, 0.9263),
}
GRID_CHOICE = {"lr": 0.1, "hidden": 1000, "wd": 1e-3}

# Experiment 4: StepLR(step 5) gamma, 10k-subset protocol.
GAMMA = {1.0: (0.114, 0.9688), 0.5: (0.120, 0.9674), 0.1: (0.129, 0.9668), 0.05: (0.130, 0.9649)}

# Final MLP (configs/seed/mlp_final.json), full data, 5 epochs.
MLP_FINAL = {"loss": 0.0629, "accuracy": 0.9806, "training_time_s": 2104.7}

# Experiment 5: regularization (final MLP, wd 1e-3 vs 0). Early stopping: no numbers given.
WEIGHT_DECAY = {1e-3: (0.063, 0.9806), 0.0: (0.068, 0.9803)}

# Experiment 6: CNN (configs/seed/cnn.json), 5 epochs; the report's comparison table.
CNN = {"loss": 0.0523, "accuracy": 0.9836, "training_time_s": 1007.4}
CNN_VS_MLP = {"cnn": (0.052, 0.9836), "mlp": (0.054, 0.9828)}

# Experiment 7: augmentation (append one augmented copy of each image), final MLP.
AUGMENTATION = {"with": (0.054, 0.9826), "without": (0.063, 0.9806)}

# "Going further" targets (not from the report): the classic results we aim to reach.
TARGETS = {"mlp": 0.984, "cnn": 0.992, "cnn_augmented": 0.994}


def grid_frame():
    """The report's grid as a DataFrame with columns lr, hidden, wd, test_loss, test_accuracy."""
    import pandas as pd
    return pd.DataFrame([{"lr": lr, "hidden": h, "wd": wd, "test_loss": loss,
                          "test_accuracy": acc} for (lr, h, wd), (loss, acc) in GRID.items()])
