"""Regenerates screenshots/: one SVG of every TUI screen (120x40) with the deterministic data the
snapshot tests use.   Usage: .venv/bin/python scripts/screenshots.py"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from tui_screens import SCREENS, make_app


async def shoot(name: str, recipe, out: Path, tmp: Path) -> None:
    app = make_app(tmp / name, name)
    async with app.run_test(size=(120, 40)) as pilot:
        await recipe(pilot)
        await pilot.pause(0.2)
        app.save_screenshot(filename=f"{name}.svg", path=str(out))


def main() -> None:
    logging.getLogger("ichain_tui").setLevel(logging.ERROR)  # the offline screens' warnings are expected
    out = ROOT / "screenshots"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ICHAIN_HOME"] = tmp  # keep the user's files out
        for name, recipe in SCREENS.items():
            asyncio.run(shoot(name, recipe, out, Path(tmp)))
            print(f"screenshots/{name}.svg")


if __name__ == "__main__":
    main()
