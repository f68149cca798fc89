"""The engine's container part: container records, lifecycle, monitor, logs, health, exec, host access."""
