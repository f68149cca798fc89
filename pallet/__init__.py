"""pallet: build images from Dockerfile-style build files and run them, on one machine.

The import names map onto the repository's root folders: ``pallet.base`` (base/: the error type
and the code cache every stage shares), ``pallet.grammar`` (grammar/), ``pallet.builder``
(builder/), ``pallet.runtime`` (runtime/); this package holds the two fronts (the click CLI and
the Engine API server). Importing it has no side effects: the CLI's entry point installs the
dataclass code cache (pallet/cli.py).
"""

__version__ = "0.1.0"
