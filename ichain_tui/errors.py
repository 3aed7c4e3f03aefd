"""Provides the error hierarchy every layer raises: one clear title and message, no tracebacks."""

from __future__ import annotations


class IchainError(Exception):
    """Base of all expected failures; `str(err)` is one line fit for a user."""

    title = "iChain error"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(IchainError):
    title = "Configuration error"
    exit_code = 2


class UsageError(IchainError):
    title = "Invalid input"
    exit_code = 2


def one_line(exc: BaseException | None, limit: int = 200) -> str:
    """What went wrong, in a few words fit for a user: the usual network failures by name, else
    the first line of the message (a library's multi-line dump never reaches the screen)."""
    if exc is None:
        return "no answer"
    text = str(exc).strip()
    if "Connection refused" in text or "Failed to establish" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    if "Connection aborted" in text or "reset by peer" in text or "RemoteDisconnected" in text:
        return "connection lost"
    return text.splitlines()[0][:limit] if text else type(exc).__name__
