"""The `caigou` command line."""

from hub.cli.main import app

__all__ = ["app"]
