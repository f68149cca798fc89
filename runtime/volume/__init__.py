"""Named and anonymous volumes: ROOT/volumes/<name>/{_data/,volume.json} (Docker's local driver)."""
