"""`import`: turn a root filesystem tarball into a one-layer image (Docker's `docker import`).

    import_rootfs(store, source, *, tags: list[str], changes: list[str] = (), message: str | None
                  = None, source_name: str = "-", platform: str | None = None,
                  source_size: int | None = None, progress=None) -> Image
        progress: a pallet.base.progress sink ("Importing" bytes of the tarball read)
    apply_changes(config: dict, changes: list[str]) -> dict     (the --change instructions)

The tarball (plain, gzip, zstd, bzip2 or xz) is read once: its uncompressed bytes are stored
as the layer blob, as they came (Docker's rule: the diff ID is the SHA-256 of the tar stream it
was given), while the same bytes are extracted safely into a private directory under tmp/ (no
escapes, size-guarded), which becomes layers/<diffid>/, so a later `run` does not unpack it
again. The blob stays uncompressed in the store, as build and commit store theirs (gzip on push).
Only then is the image committed and tagged: a failure or a kill leaves no image or tag.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat

from pallet.base.errors import PalletError
from pallet.base.progress import NULL, Meter
from pallet.runtime.image.compression import DecompressingReader, sniff_compression
from pallet.base.units import now_rfc3339
from pallet.runtime.image.committing import commit_image, normalize_tags
from pallet.runtime.image.images import Image
from pallet.runtime.image.layers import MT_OCI_TAR, Layer, member_limit
from pallet.runtime.store.content import Store
from pallet.runtime.store.layerinfo import record_layer_size
from pallet.runtime.image.unpack import extract_layer

CHANGE_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL",
                       "USER", "VOLUME", "WORKDIR")


def _json_or_shell(value: str, *, shell: bool) -> list[str]:
    value = value.strip()
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            return parsed
    return ["/bin/sh", "-c", value] if shell else value.split()


def _pairs(keyword: str, value: str) -> dict[str, str]:
    try:
        words = shlex.split(value)
    except ValueError as error:
        raise PalletError(f"invalid --change {keyword} {value!r}: {error}") from error
    if not words:
        raise PalletError(f"{keyword} requires at least one argument")
    if "=" not in words[0]:
        return {words[0]: value.strip()[len(words[0]):].strip()} if len(words) > 1 else {words[0]: ""}
    pairs = {}
    for word in words:
        if "=" not in word:
            raise PalletError(f"invalid --change {keyword}: {word!r} is not KEY=VALUE")
        key, _, val = word.partition("=")
        pairs[key] = val
    return pairs


def apply_changes(config: dict, changes) -> dict:
    """Apply Dockerfile-style --change instructions to an image config's "config" section."""
    section = config.setdefault("config", {})
    for change in changes:
        keyword, _, value = change.strip().partition(" ")
        upper = keyword.upper()
        if upper not in CHANGE_INSTRUCTIONS:
            raise PalletError(f"{keyword.lower()} is not a valid change command",
                              hint="valid: " + ", ".join(CHANGE_INSTRUCTIONS))
        if upper == "CMD":
            section["Cmd"] = _json_or_shell(value, shell=True)
        elif upper == "ENTRYPOINT":
            section["Entrypoint"] = _json_or_shell(value, shell=True)
        elif upper == "ENV":
            env = [item for item in section.get("Env") or []]
            for key, val in _pairs("ENV", value).items():
                env = [item for item in env if item.split("=", 1)[0] != key] + [f"{key}={val}"]
            section["Env"] = env
        elif upper == "LABEL":
            section.setdefault("Labels", {}).update(_pairs("LABEL", value))
        elif upper == "EXPOSE":
            for port in value.split():
                if not re.fullmatch(r"[0-9]+(-[0-9]+)?(/(tcp|udp|sctp))?", port, re.I):
                    raise PalletError(f"Invalid containerPort: {port.split('/')[0]}")
                section.setdefault("ExposedPorts", {})[port if "/" in port else port + "/tcp"] = {}
        elif upper == "VOLUME":
            for volume in _json_or_shell(value, shell=False):
                section.setdefault("Volumes", {})[volume] = {}
        elif upper == "ONBUILD":
            section.setdefault("OnBuild", []).append(value.strip())
        elif upper == "STOPSIGNAL":
            section["StopSignal"] = value.strip()
        elif upper == "USER":
            section["User"] = value.strip()
        elif upper == "WORKDIR":
            section["WorkingDir"] = value.strip()
    return config


def _platform(platform: str | None):
    from pallet.base.platforms import host_platform, parse_platform
    try:
        parsed = parse_platform(platform) if platform else host_platform()
    except ValueError as error:
        raise PalletError(str(error), hint="use os/arch[/variant], e.g. linux/amd64") from error
    if parsed.os != "linux":
        raise PalletError(f'image operating system "{parsed.os}" cannot be used on this platform')
    return parsed


def import_rootfs(store: Store, source, *, tags, changes=(), message: str | None = None,
                  source_name: str = "-", platform: str | None = None,
                  source_size: int | None = None, progress=None) -> Image:
    """Import a rootfs tarball read from source (a binary stream) as a one-layer image.

    source_size (the file's size, when known) bounds what a member may declare."""
    target = _platform(platform)
    created = now_rfc3339()
    config = {"architecture": target.architecture, "os": target.os, "created": created,
              "config": {}}
    if target.variant:
        config["variant"] = target.variant
    apply_changes(config, changes)
    config["history"] = [{"created": created,
                          "comment": message if message else f"Imported from {source_name}"}]
    with store.lease():
        return _import_tree(store, source, progress=progress, config=config, tags=tags,
                            source_name=source_name, source_size=source_size)


def _plain_tar_file(source) -> int | None:
    """The descriptor of source when it is a regular file holding an uncompressed tar (read
    from its start)."""
    try:
        fd = source.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode) or os.lseek(fd, 0, os.SEEK_CUR) != 0:
            return None
        head = os.pread(fd, 4, 0)
    except (AttributeError, OSError, ValueError):
        return None
    return fd if sniff_compression(head) == "none" else None


def _import_tree(store: Store, source, *, progress, config: dict, tags, source_name: str,
                 source_size: int | None) -> Image:
    work = store.temp_dir("import-")
    plain = _plain_tar_file(source)

    def meter(stream):
        return Meter(stream, progress or NULL, "", "Importing", source_size or 0)

    try:
        rootfs = work / "rootfs"
        rootfs.mkdir()
        os.chmod(rootfs, 0o755)
        with store.blob_writer(media_type=MT_OCI_TAR) as writer:
            if plain is not None:    # contents copied in the kernel (plainlayer.py)
                from pallet.runtime.image.plainlayer import extract_region
                region = (plain, 0, os.fstat(plain).st_size)
                stats = extract_region(store, region, writer, rootfs, meter=meter,
                                       limit=member_limit(store, source_size, "none"))
            else:
                # the writer is fed and hashes on the decompressing thread, beside the extraction
                reader = DecompressingReader(meter(source), name=f"import {source_name}",
                                             tee=writer)
                try:
                    stats = extract_layer(reader, rootfs, whiteouts="overlay",
                                          max_member_bytes=member_limit(store, source_size,
                                                                        reader.compression))
                    reader.drain()
                finally:
                    reader.close()
            blob = writer.commit()
        record_layer_size(store, blob.digest, blob.size, stats.content_bytes)
        layer = Layer(digest=blob.digest, size=blob.size, media_type=MT_OCI_TAR,
                      diff_id=blob.digest, uncompressed_size=blob.size,
                      empty=stats.entries == 0)
        target = store.layers / layer.diff_id[len("sha256:"):]
        if not target.exists():
            try:
                os.rename(rootfs, target)
            except OSError:
                if not target.is_dir():
                    raise
        image = commit_image(store, config=config, layers=[layer], tags=tags)
        from pallet.runtime.store.events import record_event
        from pallet.runtime.store.references import familiar
        for name in normalize_tags(tags):   # dockerd: "tag" for the name, then "import"
            record_event(store.root, "image", "tag", image.id, {"name": familiar(name)})
        record_event(store.root, "image", "import", image.id, {"name": image.id})
        return image
    finally:
        store.remove_tree(work)
