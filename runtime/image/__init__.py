"""The engine's image part: images, layers, archives, import/export."""
