"""The engine's distribution part: registry client, credentials, push/pull."""
