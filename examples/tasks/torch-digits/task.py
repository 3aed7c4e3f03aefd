"""A small convolutional network (PyTorch, CPU) trained on generated 16x16 "digits": ten fixed
stroke patterns drawn with random shifts and noise, so nothing is downloaded at run time.

    python3 task.py execute OUT   trains, prints one ICHAIN_PROGRESS line per epoch, writes
                                  OUT/model.pt (the checkpoint) and OUT/metrics.json
    python3 task.py check OUT     loads the checkpoint, re-evaluates it on a held-out set it
                                  generates itself, and passes when the accuracy it measures is
                                  within `metric_tolerance` of the claimed one and at least
                                  `min_accuracy`
"""

import json
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

SIZE = 16


def comparator():
    settings = {"epochs": 6, "train": 3000, "test": 1000, "metric_tolerance": 0.03, "min_accuracy": 0.9}
    settings.update(json.loads(os.environ.get("ICHAIN_COMPARATOR") or "{}"))
    return settings


def patterns():
    """Ten 16x16 templates made of strokes (one per class)."""
    g = torch.Generator().manual_seed(7)
    out = torch.zeros(10, SIZE, SIZE)
    for c in range(10):
        for _ in range(3):
            r0, c0, r1, c1 = torch.randint(2, SIZE - 2, (4,), generator=g).tolist()
            steps = max(abs(r1 - r0), abs(c1 - c0)) + 1
            for t in range(steps):
                r = r0 + (r1 - r0) * t // max(1, steps - 1)
                cc = c0 + (c1 - c0) * t // max(1, steps - 1)
                out[c, r, cc] = 1.0
    return out


def dataset(n, seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    base = patterns()[labels]
    shifts = torch.randint(-2, 3, (n, 2), generator=g)
    images = torch.stack(
        [torch.roll(img, (int(dy), int(dx)), (0, 1)) for img, (dy, dx) in zip(base, shifts, strict=True)]
    )
    images = images + 0.3 * torch.randn(images.shape, generator=g)
    return images.unsqueeze(1), labels


def model():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )


def device():
    """CUDA when the provider gave the task a GPU (`gpus` in ichain.toml), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def accuracy(net, x, y):
    with torch.no_grad():
        return float((net(x).argmax(1) == y).float().mean())


def execute(out, s):
    torch.manual_seed(1234)
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    dev = device()
    x, y = (t.to(dev) for t in dataset(s["train"], seed=1))
    net = model().to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(s["epochs"]):
        perm = torch.randperm(len(x), device=dev)
        total = 0.0
        for i in range(0, len(x), 100):
            idx = perm[i : i + 100]
            opt.zero_grad()
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        progress = {"epoch": epoch + 1, "epochs": s["epochs"], "loss": round(total / len(x), 5)}
        progress["accuracy"] = round(accuracy(net, x, y), 4)
        progress["t"] = round(time.time(), 3)  # when it was printed: the requester can tell the delay
        print("ICHAIN_PROGRESS " + json.dumps(progress), flush=True)
    tx, ty = (t.to(dev) for t in dataset(s["test"], seed=2))
    metrics = {
        "test_accuracy": accuracy(net, tx, ty),
        "epochs": s["epochs"],
        "torch": torch.__version__,
        "device": str(dev),
    }
    torch.save(net.state_dict(), out / "model.pt")
    (out / "metrics.json").write_text(json.dumps(metrics))
    print(f"test accuracy {metrics['test_accuracy']:.4f}", flush=True)


def check(out, s):
    claimed = json.loads((out / "metrics.json").read_text())["test_accuracy"]
    net = model()
    net.load_state_dict(torch.load(out / "model.pt", weights_only=True, map_location="cpu"))
    tx, ty = dataset(s["test"], seed=2)
    measured = accuracy(net, tx, ty)
    print(f"claimed {claimed:.4f}, measured {measured:.4f}", flush=True)
    ok = abs(measured - claimed) <= s["metric_tolerance"] and measured >= s["min_accuracy"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    mode, out = sys.argv[1], Path(sys.argv[2])
    (execute if mode == "execute" else check)(out, comparator())
