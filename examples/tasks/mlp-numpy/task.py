"""A small numpy MLP (2-16-2, tanh, softmax) trained with fixed seeds on a generated two-spirals set.

python3 task.py execute OUT   trains, writes OUT/weights.npz and OUT/metrics.json
python3 task.py check OUT     retrains with the same seeds, compares the weights and the
                              held-out loss/accuracy to the result within a tolerance
"""

import json
import os
import sys
from pathlib import Path

import numpy as np

SEED = 1234
HIDDEN = 16


def comparator():
    settings = {"tolerance": 1e-6, "metric_tolerance": 1e-3, "epochs": 2000, "lr": 1.0, "min_accuracy": 0.9}
    settings.update(json.loads(os.environ.get("ICHAIN_COMPARATOR") or "{}"))
    return settings


def spirals(n, rng):
    t = np.sqrt(rng.random(n)) * 3 * np.pi
    x0 = np.stack([t * np.cos(t), t * np.sin(t)], 1) / 10 + rng.normal(0, 0.05, (n, 2))
    x1 = -x0
    return np.concatenate([x0, x1]), np.concatenate([np.zeros(n, int), np.ones(n, int)])


def data():
    rng = np.random.default_rng(SEED)
    x_train, y_train = spirals(400, rng)
    x_test, y_test = spirals(200, rng)
    return x_train, y_train, x_test, y_test


def forward(params, x):
    h = np.tanh(x @ params["w1"] + params["b1"])
    logits = h @ params["w2"] + params["b2"]
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return h, p / p.sum(axis=1, keepdims=True)


def evaluate(params, x, y):
    _, p = forward(params, x)
    loss = float(-np.mean(np.log(p[np.arange(len(y)), y] + 1e-12)))
    return loss, float(np.mean(p.argmax(1) == y))


def train(cfg):
    x, y, _, _ = data()
    rng = np.random.default_rng(SEED + 1)
    params = {
        "w1": rng.normal(0, 1.0, (2, HIDDEN)),
        "b1": np.zeros(HIDDEN),
        "w2": rng.normal(0, 1.0, (HIDDEN, 2)),
        "b2": np.zeros(2),
    }
    onehot = np.eye(2)[y]
    for _ in range(int(cfg["epochs"])):
        h, p = forward(params, x)
        grad_logits = (p - onehot) / len(y)
        grad_h = grad_logits @ params["w2"].T * (1 - h**2)
        params["w2"] -= cfg["lr"] * h.T @ grad_logits
        params["b2"] -= cfg["lr"] * grad_logits.sum(0)
        params["w1"] -= cfg["lr"] * x.T @ grad_h
        params["b1"] -= cfg["lr"] * grad_h.sum(0)
    return params


def execute(out: Path) -> int:
    cfg = comparator()
    params = train(cfg)
    _, _, x_test, y_test = data()
    loss, accuracy = evaluate(params, x_test, y_test)
    np.savez(out / "weights.npz", **params)
    (out / "metrics.json").write_text(
        json.dumps({"loss": loss, "accuracy": accuracy, "seed": SEED}, indent=2)
    )
    print(f"held-out loss {loss:.4f}, accuracy {accuracy:.4f}")
    return 0


def check(out: Path) -> int:
    cfg = comparator()
    try:
        claimed = json.loads((out / "metrics.json").read_text())
        with np.load(out / "weights.npz", allow_pickle=False) as f:
            params = {k: f[k] for k in ("w1", "b1", "w2", "b2")}
    except (OSError, KeyError, ValueError) as exc:
        print(f"FAIL: result is incomplete or unreadable: {exc}")
        return 1
    expected = train(cfg)
    for name, value in expected.items():
        if params[name].shape != value.shape:
            print(f"FAIL: {name} has shape {params[name].shape}, expected {value.shape}")
            return 1
        diff = float(np.max(np.abs(params[name] - value)))
        if diff > cfg["tolerance"]:
            print(f"FAIL: {name} differs from the recomputed weights by {diff:.3g}")
            return 1
    _, _, x_test, y_test = data()
    loss, accuracy = evaluate(params, x_test, y_test)
    print(
        f"claimed loss {claimed['loss']:.4f} accuracy {claimed['accuracy']:.4f}; measured {loss:.4f} {accuracy:.4f}"
    )
    if (
        abs(loss - claimed["loss"]) > cfg["metric_tolerance"]
        or abs(accuracy - claimed["accuracy"]) > cfg["metric_tolerance"]
    ):
        print("FAIL: metrics differ from the claim")
        return 1
    if accuracy < cfg["min_accuracy"]:
        print("FAIL: accuracy below the floor")
        return 1
    print("PASS")
    return 0


def main(argv):
    if len(argv) != 3 or argv[1] not in ("execute", "check"):
        print("usage: task.py execute|check OUT", file=sys.stderr)
        return 2
    out = Path(argv[2])
    return execute(out) if argv[1] == "execute" else check(out)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
