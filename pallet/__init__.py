"""pallet: build images from Dockerfile-style build files and run them, on one machine.

The import names map onto the repository's root folders: ``pallet.grammar`` (grammar/),
``pallet.builder`` (builder/), ``pallet.runtime`` (runtime/); this package holds the fronts
(the click CLI and the Engine API server) and the dependency-free error module.
"""

__version__ = "0.1.0"

# Before any module of ours defines a dataclass: reuse their compiled methods (pallet/codecache.py
# says why; it is a fifth of a cached build's start-up on Python 3.11).
from pallet.codecache import install_dataclass_cache as _install_dataclass_cache

_install_dataclass_cache()
