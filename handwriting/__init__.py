"""handwriting: Graves' handwriting recognition and synthesis in JAX."""

__version__ = "0.1.0"
