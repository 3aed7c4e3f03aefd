"""Linear regression by gradient descent over the sweep's dataset (`/dataset/points.csv`).

    python3 task.py execute OUT   trains with the run's lr and seed; writes OUT/weights.json and
                                  OUT/metrics.json (its loss); reports each epoch as ICHAIN_PROGRESS
    python3 task.py check OUT     recomputes the loss of the claimed weights on the same data and
                                  exits 0 only if it matches the claimed loss
Run parameters come from $ICHAIN_PARAMS (the sweep's grid); the dataset from $ICHAIN_DATASET.
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def data():
    folder = Path(os.environ.get("ICHAIN_DATASET", Path(__file__).parent / "data"))
    table = np.loadtxt(folder / "points.csv", delimiter=",")
    return table[:, :-1], table[:, -1]


def loss(w, b, x, y):
    return float(np.mean((x @ w + b - y) ** 2))


def execute(out: Path) -> int:
    params = json.loads(os.environ.get("ICHAIN_PARAMS") or "{}")
    lr, seed = float(params.get("lr", 0.1)), int(params.get("seed", 1))
    epochs, pause = int(params.get("epochs", 20)), float(params.get("pause", 0.0))
    x, y = data()
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=x.shape[1]), 0.0
    for epoch in range(epochs):
        error = x @ w + b - y
        w -= lr * 2 * x.T @ error / len(y)
        b -= lr * 2 * float(np.mean(error))
        print("ICHAIN_PROGRESS " + json.dumps({"epoch": epoch + 1, "loss": loss(w, b, x, y)}), flush=True)
        time.sleep(pause)
    (out / "weights.json").write_text(json.dumps({"w": w.tolist(), "b": b}))
    source = os.environ.get("ICHAIN_DATASET", "task folder")
    (out / "metrics.json").write_text(
        json.dumps({"loss": loss(w, b, x, y), "lr": lr, "seed": seed, "data": source})
    )
    return 0


def check(out: Path) -> int:
    tolerance = json.loads(os.environ.get("ICHAIN_COMPARATOR") or "{}").get("tolerance", 1e-6)
    claimed = json.loads((out / "metrics.json").read_text())["loss"]
    weights = json.loads((out / "weights.json").read_text())
    x, y = data()
    actual = loss(np.array(weights["w"]), float(weights["b"]), x, y)
    print(f"claimed loss {claimed:.6g}, recomputed {actual:.6g}")
    return 0 if abs(actual - claimed) <= tolerance * max(1.0, abs(actual)) else 1


if __name__ == "__main__":
    mode, out = sys.argv[1], Path(sys.argv[2])
    sys.exit(execute(out) if mode == "execute" else check(out))
