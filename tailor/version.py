"""tailor's version: a leaf every module may import (artifacts stamp it), so the package's face need not be."""

__version__ = "0.1.0"
