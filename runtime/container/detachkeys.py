"""Detach keys: docker's --detach-keys (moby/term's ToBytes) and the scanner that watches a
client's input for the sequence (moby's copyEscapable), shared by run -it, start -ai, attach and
exec -it on the CLI and the Engine API's attach."""

from __future__ import annotations

import os

from pallet.base.errors import PalletError


DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


class InvalidDetachKeys(PalletError):
    http_status = 400


# moby/term's ASCII table: "ctrl-@" is 0, "ctrl-a" 1 ... "ctrl-z" 26, then ctrl-[ \\ ] ^ _
_CONTROL_KEYS = {name: code for code, name in enumerate(
    ["ctrl-@"] + [f"ctrl-{chr(c)}" for c in range(ord("a"), ord("z") + 1)]
    + ["ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_"])}


def detach_keys(text: str, *, word: str = "detach") -> bytes:
    """moby/term ToBytes: comma-separated keys, each one character, a lower-case ctrl-<key>
    or DEL; case and spaces count ("ctrl-A" and " a" are refused, as by dockerd). word is the
    daemon's in its refusal: "detach" for attach, "escape" for exec."""
    out = bytearray()
    for key in text.split(","):
        raw = os.fsencode(key)    # Go's len() counts bytes: "é" is two, and refused
        if len(raw) == 1:
            out += raw
        elif key in _CONTROL_KEYS:
            out.append(_CONTROL_KEYS[key])
        elif key == "DEL":
            out.append(127)
        else:
            raise InvalidDetachKeys(f"Invalid {word} keys ({text}) provided")
    return bytes(out)


class DetachScanner:
    """moby's copyEscapable: passes input through until the detach sequence is typed (a
    partial match is held back, and let through when the next byte breaks it)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(what to pass on, whether the sequence is now complete)."""
        out = bytearray()
        for byte in data:
            candidate = self.held + bytes([byte])
            if self.keys and self.keys.startswith(candidate):
                self.held = candidate
                if candidate == self.keys:
                    self.held = b""
                    return bytes(out), True
                continue
            out += self.held
            self.held = b""
            if self.keys and self.keys.startswith(bytes([byte])):
                self.held = bytes([byte])
            else:
                out.append(byte)
        return bytes(out), False
