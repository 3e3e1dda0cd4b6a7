# %% [markdown]
# # Solutions: 04 Layer-wise training (§5.3)
#
# For instructors: one cell per exercise of `notebooks/04_layerwise_training.ipynb`, tagged
# like the exercise cell it replaces.

# %% tags=["exercise-linear_probe"]
import torch


def probe_scores(h_train, y_train, h_test, num_classes, ridge):
    """Ridge scores (N_test, K) of a linear probe fitted on (h_train, y_train)."""

    def features(h):  # φ(h) = [flatten(h), 1]
        flat = h.reshape(h.shape[0], -1).double()
        return torch.cat([flat, torch.ones(len(flat), 1, dtype=flat.dtype)], dim=1)

    phi = features(h_train)
    Y = torch.nn.functional.one_hot(y_train, num_classes).double()
    D = torch.eye(phi.shape[1], dtype=phi.dtype)
    D[-1, -1] = 0.0  # the bias is not penalised
    W = torch.linalg.solve(phi.T @ phi + ridge * D, phi.T @ Y)
    return features(h_test) @ W
