"""Digits classifier: scikit-learn logistic regression on the 8x8 digits data set shipped with scikit-learn.

    python3 task.py execute OUT   trains, writes OUT/model.npz (weights, no pickle) and OUT/metrics.json
    python3 task.py check OUT     reloads the weights, re-evaluates on the held-out split and exits 0
                                  only if the accuracy matches the claimed one and clears the floor
Comparator settings come from ichain.toml [comparator] (the sandbox passes them as ICHAIN_COMPARATOR).
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

SEED = 7


def comparator():
    settings = {"tolerance": 0.005, "min_accuracy": 0.9, "test_size": 0.25}
    settings.update(json.loads(os.environ.get("ICHAIN_COMPARATOR") or "{}"))
    return settings


def split(test_size):
    digits = load_digits()
    x = digits.data / 16.0
    return train_test_split(x, digits.target, test_size=test_size, random_state=SEED, stratify=digits.target)


def predict(weights, intercept, x):
    return np.argmax(x @ weights.T + intercept, axis=1)


def execute(out: Path) -> int:
    cfg = comparator()
    x_train, x_test, y_train, y_test = split(cfg["test_size"])
    model = LogisticRegression(max_iter=2000, C=1.0)
    model.fit(x_train, y_train)
    accuracy = float(np.mean(predict(model.coef_, model.intercept_, x_test) == y_test))
    np.savez(out / "model.npz", coef=model.coef_, intercept=model.intercept_, classes=model.classes_)
    metrics = {"accuracy": accuracy, "n_train": len(y_train), "n_test": len(y_test), "seed": SEED}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"trained on {len(y_train)} images, held-out accuracy {accuracy:.4f}")
    return 0


def check(out: Path) -> int:
    cfg = comparator()
    try:
        claimed = json.loads((out / "metrics.json").read_text())["accuracy"]
        with np.load(out / "model.npz", allow_pickle=False) as model:
            coef, intercept = model["coef"], model["intercept"]
    except (OSError, KeyError, ValueError) as exc:
        print(f"FAIL: result is incomplete or unreadable: {exc}")
        return 1
    _, x_test, _, y_test = split(cfg["test_size"])
    if coef.shape != (10, x_test.shape[1]) or intercept.shape != (10,):
        print(f"FAIL: model has shape {coef.shape}/{intercept.shape}, expected (10, 64)/(10,)")
        return 1
    accuracy = float(np.mean(predict(coef, intercept, x_test) == y_test))
    print(f"claimed accuracy {claimed:.4f}, measured {accuracy:.4f}, floor {cfg['min_accuracy']}")
    if abs(accuracy - claimed) > cfg["tolerance"]:
        print(f"FAIL: measured accuracy differs from the claim by more than {cfg['tolerance']}")
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
