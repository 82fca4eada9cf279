"""pubkit: release the packages of a monorepo and serve them from a private index."""

from pubkit.errors import PubkitError

__version__ = "0.1.0"

__all__ = ["PubkitError", "__version__"]
