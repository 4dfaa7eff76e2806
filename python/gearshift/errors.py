"""Exception types shared by the runtime facade, the reader and the converters.

They live in a module of their own, free of numpy, TensorFlow and the compiled
extension, so every layer of the package can raise them without import cycles.
"""

from __future__ import annotations

__all__ = ["FormatError", "UnsupportedOpError"]


class FormatError(ValueError):
    """A ``.gear`` file is malformed, corrupted, truncated or of a newer major version.

    A subclass of :class:`ValueError` so that callers who only know the
    built-in exception still catch it. The message names the offending field,
    what was expected and what was found.
    """


class UnsupportedOpError(ValueError):
    """A source model uses layers or options the converter cannot express.

    Raised once, before any conversion work, listing every unsupported layer
    type with its count, so a user fixes the model in one round instead of one
    layer at a time.
    """
