"""The built-in strategies, one module each, declaring itself with a ``STRATEGY`` (see tailor.plugins).

``build_strategy(name, ws, dataset)`` builds any registered strategy by name.
"""

from tailor.strategies.base import BuiltStrategy, build_strategy

__all__ = ["BuiltStrategy", "build_strategy"]
