"""taskonomy: task transfer affinities and task taxonomies (Zamir et al., CVPR 2018)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("taskonomy")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
