"""Vector stores for the rag index, one module each, declaring itself with a ``STORE`` (see tailor.plugins)."""
