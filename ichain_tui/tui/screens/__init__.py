"""Provides the TUI's screens and panes, one module each."""
