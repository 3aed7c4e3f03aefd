"""Provides the `ichain` command line."""
def main() -> int:
    return 0
