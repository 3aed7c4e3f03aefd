"""Provides `ichain image build` and `ichain task try FOLDER`: the sandbox from the command line."""
# `task try` is registered by commands/task_cmd.py with the other task subcommands.

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from ..errors import UsageError
from .common import settings_from


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    image = sub.add_parser("image", help="the sandbox runtime image")
    isub = image.add_subparsers(dest="image_cmd", required=True)
    build = isub.add_parser(
        "build", help="make the runtime image available (present, pulled or built offline)"
    )
    build.add_argument("--force", action="store_true", help="rebuild even when present")
    build.set_defaults(func=cmd_image_build)


def add_try_parser(tsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try_ = tsub.add_parser("try", help="run execute then check in the sandbox; pays nothing")
    try_.add_argument("folder", type=Path)
    try_.add_argument("--keep", type=Path, help="keep the result in this folder")
    try_.add_argument("--json", action="store_true")
    try_.set_defaults(func=cmd_task_try)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_image_build(args: argparse.Namespace) -> int:
    from ..sandbox import engine, image

    settings = settings_from(args)
    dc = engine.client()
    if args.force and image.has_image(dc, settings.docker_image):
        dc.images.remove(settings.docker_image, force=True)
    image.ensure_image(dc, settings.docker_image, progress=_progress)
    if args.json:
        print(json.dumps({"image": settings.docker_image, "id": dc.images.get(settings.docker_image).id}))
    else:
        print(settings.docker_image)
    return 0


def cmd_task_try(args: argparse.Namespace) -> int:
    from ..sandbox import engine
    from ..sandbox.deps import DepsLimits
    from ..sandbox.runner import Sandbox
    from ..sandbox.taskspec import bundled_dataset, load_task

    settings = settings_from(args)
    spec = load_task(args.folder)
    if spec.dataset:  # mounted read-only at /dataset, as a provider does
        dataset = bundled_dataset(spec)
        if dataset is None:
            raise UsageError(f"dataset {spec.dataset!r} is missing from {spec.folder}")
        spec = replace(spec, dataset_dir=dataset)
    dc = engine.client()
    sandbox = Sandbox(
        dc,
        settings.docker_image,
        package_index=settings.package_index,
        deps_limits=DepsLimits.from_settings(settings),
    )
    with tempfile.TemporaryDirectory(prefix="ichain-try-") as tmp:
        out = Path(args.keep) if args.keep else Path(tmp) / "out"
        out.mkdir(parents=True, exist_ok=True)
        echo = None if args.json else (lambda stream, line: print(f"  {stream}| {line}", file=sys.stderr))
        if not args.json:
            print(f"execute {spec.folder}", file=sys.stderr)
        ex = sandbox.execute(spec, out, on_line=echo)
        runs = [ex]
        if ex.ok:
            if not args.json:
                print("check", file=sys.stderr)
            runs.append(sandbox.check(spec, out, on_line=echo))
    ok = all(r.ok for r in runs) and len(runs) == 2
    if args.json:
        print(json.dumps({"ok": ok, "task": spec.as_dict(), "runs": [r.as_dict() for r in runs]}))
    else:
        for r in runs:
            print(
                f"{r.mode:<8} {r.reason:<34} {r.wall_s:7.2f} s  peak {r.peak_memory_bytes / 2**20:7.1f} MiB"
                f"  output {r.output_bytes / 2**20:7.2f} MiB"
            )
        print("OK" if ok else "FAILED")
    return 0 if ok else 1
