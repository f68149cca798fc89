"""Stage 2: plan the build graph, key the cache, run the steps, commit the image."""
