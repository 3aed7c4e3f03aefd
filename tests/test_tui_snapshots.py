"""Snapshot tests (pytest-textual-snapshot) of every screen at 60x20, 80x24 and 120x40, deterministic data."""

from __future__ import annotations

import pytest
from tui_screens import SCREENS, make_app


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (120, 40)], ids=["60x20", "80x24", "120x40"])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare, tmp_path_factory, screen, size):
    app = make_app(tmp_path_factory.mktemp("snap"), screen)
    assert snap_compare(app, terminal_size=size, run_before=SCREENS[screen])
