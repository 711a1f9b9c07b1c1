"""The built-in evaluation suites: one module each, declaring itself with a ``SUITE`` (see tailor.plugins)."""
