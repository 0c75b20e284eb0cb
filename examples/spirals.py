"""Three interleaved spirals and the decision regions a small ReLU network learns.

Saves the picture to the path given as the first argument (default spirals.png);
needs matplotlib for the picture, not for the training.
"""
import sys

import numpy as np

import nncore as nc


def train(epochs=80, seed=0):
    x, y = nc.spirals(n=200, classes=3, noise=0.2, seed=seed)
    model = nc.Sequential([nc.Dense(2, 64, "relu"), nc.Dense(64, 64, "relu"), nc.Dense(64, 3)],
                          seed=seed)
    history = model.fit(x, y, loss="cross_entropy", optimizer=nc.Adam(lr=0.01), epochs=epochs,
                        batch_size=32, seed=seed, verbose=0)
    return model, x, y, history


def plot(model, x, y, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    xx, yy = np.meshgrid(np.linspace(-1.2, 1.2, 300), np.linspace(-1.2, 1.2, 300))
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)
    regions = model.predict(grid).argmax(axis=1).reshape(xx.shape)
    colors = ListedColormap(["#1f77b4", "#d62728", "#2ca02c"])  # one per class, both layers
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.contourf(xx, yy, regions, levels=[-0.5, 0.5, 1.5, 2.5], alpha=0.3, cmap=colors)
    ax.scatter(x[:, 0], x[:, 1], c=y, s=10, cmap=colors, vmin=-0.5, vmax=2.5, edgecolors="k",
               linewidths=0.3)
    ax.set_title("nncore: decision regions on three spirals")
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "spirals.png"
    model, x, y, history = train()
    accuracy = model.evaluate(x, y)["accuracy"]
    print(f"training accuracy: {accuracy:.1%}")
    try:
        print(f"decision regions saved to {plot(model, x, y, path)}")
    except ImportError:
        print("matplotlib is not installed: no picture (pip install matplotlib)")
