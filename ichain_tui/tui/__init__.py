"""Provides the Textual TUI; the only package that imports Textual."""
