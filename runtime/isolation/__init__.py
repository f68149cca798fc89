"""The engine's isolation part: namespaces, mounts, cgroups, capabilities, process set-up."""
