"""The engine: content store, images, layers, containers, networks, registry client."""
