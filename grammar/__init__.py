"""Stage 1 of the pipeline: the build-file grammar, typed AST, substitution, .dockerignore."""
