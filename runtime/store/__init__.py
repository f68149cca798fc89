"""The engine's store part: content store, references, check/repair."""
