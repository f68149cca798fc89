"""Tests of pallet.grammar."""

from pathlib import Path

# BuildKit's parser test data, vendored byte for byte (see buildkit/README.md for its origin).
BUILDKIT_DATA = Path(__file__).resolve().parent / "buildkit"
