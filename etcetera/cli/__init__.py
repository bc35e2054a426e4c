"""The `etc` command."""

from .main import main

__all__ = ["main"]
