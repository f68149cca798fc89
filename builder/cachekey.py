"""Cache keys of build steps: the one place where the formula lives.

    key(step) = xxh3_128( "pallet-step-v1" || key(parent)
                          || canonical(step)
                          || digest(inputs) )

where

* ``key(parent)`` is the key of the step this one builds on. The first step of a stage builds
  on its base: ``xxh3_128("image" || image config digest)`` for an image (its id names its
  exact layers and config), ``xxh3_128("scratch")`` for ``FROM scratch``, or the key of the
  last step of the stage it names.
* ``canonical(step)`` is the step after variable expansion, as canonical JSON (sorted keys, no
  whitespace, UTF-8): the instruction keyword and its expanded arguments and flags, plus the
  state it runs in: SHELL, USER, WORKDIR, the ENV in effect and exactly the build args it sees
  (for RUN, the ARGs in scope with their values; undeclared proxy args are left out, as Docker
  leaves them out). Mount *definitions* are part of it; the contents of cache mounts and the
  values of secrets never are. A RUN step of a build given ``--add-host`` also holds those
  entries as given (``run_desc``; BuildKit's ExecOp carries its extra hosts the same way), so a
  different ``--add-host`` never reuses a step that ran with other names in /etc/hosts.
  A metadata step (ENV, LABEL, ARG, CMD, ...) holds only what it changes, expanded: its
  parent's key already stands for the config before it.
* ``digest(inputs)`` is ``xxh3_128`` over the sorted entries of every file the step reads:
  for each entry ``(path as it lands, type, mode, uid, gid, link target, xxh3_128(content))``,
  framed by length so no two different entry lists can encode alike. mtime is never part of
  it, so ``touch`` or a fresh ``git clone`` of the same bytes is a hit. COPY/ADD hash exactly
  their selected files after .dockerignore (an unrelated context change cannot touch the key);
  ``COPY --from`` and ``RUN --mount=type=bind`` hash the files they read from the other stage
  or the context the same way.

Every step also has a **definition key**, the same formula over the build definition alone:

    def(step) = xxh3_128( "pallet-step-v1" || def(parent)
                          || canonical(step)
                          || digest_def(inputs) )

* ``def(parent)`` chains the same way, through definition keys (the base image's and
  scratch's are the same as above; a stage built FROM another starts from that stage's last
  definition key).
* ``digest_def(inputs)`` replaces what only a run can know: the files a ``COPY --from=STAGE``
  or ``RUN --mount=type=bind,from=STAGE`` reads become the definition key of STAGE's last
  step, and an image's files its id. Context files, downloads and heredocs are digested as
  for the content key (with each file's own owner and mode; ``--chown``/``--chmod`` are in
  ``canonical(step)``), so a stage that reads no other stage and uses neither flag has
  definition keys equal to its content keys.

The rule (builder/defkeys.py, execute.StageRunner.run_step): a step that reads a stage whose
content is not at hand (that stage has not run in this build) is looked up by its definition
key first; that record names the content key the stage's chain goes on with. Only when it
misses is the stage built and the step looked up by its content key. Every other step is looked
up by its content key. A step that reads another stage records its result under both keys
(the definition key's record carries ``extra.content_key``). So a fresh CI runner with a
mode=min cache of the final stage builds no other stage, while the content key's guarantees
stay: a touch or a fresh clone changes neither key, a changed file that any stage reads
changes the definition keys of every step downstream of it.

All keys are 32 hex characters. They are internal: OCI digests and diff IDs stay sha256.
"""

from __future__ import annotations

import json
from typing import Any

import xxhash

KEY_VERSION = b"pallet-step-v1"


def canonical(value: Any) -> bytes:
    """Deterministic JSON of plain data (dicts, lists, strings, numbers, bools, None)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _framed(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big") + data


def run_desc(desc: dict[str, Any], add_hosts: tuple[str, ...]) -> dict[str, Any]:
    """A step's canonical description with the build's --add-host entries, for RUN steps (a
    build without --add-host keeps the keys it always had)."""
    if not add_hosts or desc.get("op") != "run":
        return desc
    return {**desc, "extra_hosts": list(add_hosts)}


def step_key(*, parent: str, step: Any, inputs: str) -> str:
    """The cache key of a step (see the module docstring)."""
    hasher = xxhash.xxh3_128()
    hasher.update(_framed(KEY_VERSION))
    hasher.update(_framed(parent.encode("ascii")))
    hasher.update(_framed(canonical(step)))
    hasher.update(_framed(inputs.encode("ascii")))
    return hasher.hexdigest()


def image_base_key(image_id: str) -> str:
    """The parent key of the first step of a stage built on an image (``sha256:...`` id)."""
    return xxhash.xxh3_128_hexdigest(_framed(b"image") + _framed(image_id.encode("ascii")))


def scratch_base_key() -> str:
    return xxhash.xxh3_128_hexdigest(_framed(b"scratch"))


NO_INPUTS = xxhash.xxh3_128_hexdigest(b"")


class InputDigest:
    """Accumulates the entries a step reads; ``hexdigest()`` is order-independent (sorted)."""

    def __init__(self) -> None:
        self._entries: list[bytes] = []

    def add(self, *, path: str, kind: str, mode: int, uid: int, gid: int,
            link_target: str = "", content_hash: str = "") -> None:
        # NUL separates the fields: no path, link target or number can contain one, so the
        # encoding is unambiguous without length framing (and this runs once per file)
        self._entries.append(f"{path}\0{kind}\0{mode}\0{uid}\0{gid}\0{link_target}\0"
                             f"{content_hash}".encode("utf-8", "surrogateescape"))

    def add_token(self, label: str, value: str) -> None:
        """Fold in a non-file input (a remote URL's checksum, a source image id)."""
        self._entries.append(_framed(b"token") + _framed(label.encode()) + _framed(value.encode()))

    def __len__(self) -> int:
        return len(self._entries)

    def hexdigest(self) -> str:
        hasher = xxhash.xxh3_128()
        for entry in sorted(self._entries):
            hasher.update(_framed(entry))
        return hasher.hexdigest()


def selections_digest(selections, *, uid: int | None, gid: int | None) -> str:
    """The input digest of COPY sources (``context.Selection`` list).

    ``uid``/``gid`` are the owner the files land with (``--chown``, else 0:0 for context
    files); ``None`` keeps each entry's own owner (``COPY --from`` without ``--chown``).
    """
    digest = InputDigest()
    for index, selection in enumerate(selections):
        for entry in selection.entries:
            digest.add(path=f"{index}:{selection.root_origin}:{entry.relpath}", kind=entry.kind,
                       mode=entry.mode,
                       uid=entry_owner(entry, "uid") if uid is None else uid,
                       gid=entry_owner(entry, "gid") if gid is None else gid,
                       link_target=entry.link_target, content_hash=entry.content_hash)
    return digest.hexdigest()


def entry_owner(entry, field: str) -> int:
    return int(getattr(entry, field, 0))
