"""sensorimotor: learn robot world models and policies from interaction.

The public API is re-exported by each package (``sensorimotor.robots``, ``.sim``, ``.worldmodels``,
``.sequence``, ``.policies``, ``.agents``, ``.nn``, ``.core``); see docs/api.md.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sensorimotor")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
