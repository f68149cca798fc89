"""What every stage shares and that imports nothing of ours: the root error type, the code cache."""
