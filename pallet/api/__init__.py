"""The Docker-compatible Engine API server (`pallet serve`)."""
