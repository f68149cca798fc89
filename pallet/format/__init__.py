"""The CLI's presentation of engine data, as the docker CLI prints it.

Go templates (`--format`, `inspect -f`), text/tabwriter columns and Docker's formatter
contexts (the `table` directive and its headers) live here, beside the CLI, because only the
CLI formats: the Engine API answers JSON and never evaluates a template (in Docker too the
templates are docker/cli's, not the daemon's).
"""
