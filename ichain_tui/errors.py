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
