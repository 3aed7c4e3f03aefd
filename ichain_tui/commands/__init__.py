"""Provides the `ichain` subcommands, one module per command group."""
