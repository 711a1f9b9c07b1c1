"""The `tailor` command line: one module per command group, assembled in tailor.cli.app."""

from tailor.cli.app import app, main

__all__ = ["app", "main"]
