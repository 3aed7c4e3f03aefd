"""Provides `dropped_while_closing`: a decorator for the app's handlers of worker messages. A
worker's message can land after the app began closing and its panes are gone: it is dropped then;
at any other time a missing pane is a bug and still raises."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from textual.css.query import NoMatches


def dropped_while_closing(handler: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """A worker's message can land after the app began closing and its panes are gone: it is
    dropped then. At any other time a missing pane is a bug and still raises."""

    @functools.wraps(handler)
    def wrapper(app: Any, message: Any) -> None:
        if app._exit or not app._running:
            return
        try:
            handler(app, message)
        except NoMatches:
            if app._exit or not app._running:
                return
            raise

    return wrapper
