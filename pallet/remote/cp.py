"""cp between this machine and a container on a remote host, through
/containers/{id}/archive, with the local cp's path rules (runtime/container/access.py).

    copy_out(client, container, source, destination, *, archive, follow_link)
    copy_in(client, container, source, destination, *, archive, follow_link)

Out: the host's tar of SOURCE (its base name at the top) is renamed to the name it takes here
while it is spooled, then unpacked by the same confined extractor the local cp uses (checked
whole in a staging directory, then renamed or merged into place). In: the local entry is
packed by the runtime's tar writer as the name it takes in the container and streamed as the
PUT body while it is made; where it lands is decided from HEAD stats of the destination, as
the docker CLI decides it.
"""

from __future__ import annotations

import base64
import json
import os
import tarfile
import tempfile

from pallet.base.errors import PalletError
from pallet.base.progress import NULL, Meter
from pallet.remote.calls import api_call

GO_DIR, GO_SYMLINK = 1 << 31, 1 << 27


def _stat(client, container: str, path: str) -> dict | None:
    """Docker's PathStat of path in the container, None when it does not exist."""
    with api_call(1):
        response = client.head(client._url("/containers/{0}/archive", container),
                               params={"path": path})
        if response.status_code == 404:
            return None
        client._raise_for_status(response)
    header = response.headers.get("X-Docker-Container-Path-Stat")
    if not header:
        raise PalletError("the host sent no X-Docker-Container-Path-Stat header")
    return json.loads(base64.b64decode(header))


def _rebase(source, spool, top: str, final: str) -> None:
    """Copy the tar stream source into spool with its top entry top renamed final."""
    def renamed(name: str) -> str:
        clean = name.rstrip("/")
        if clean == top or top == ".":
            rest = clean[len(top):] if clean == top else "/" + clean.removeprefix("./")
        elif clean.startswith(top + "/"):
            rest = clean[len(top):]
        else:
            raise PalletError(f"the host's archive holds {name!r} outside {top!r}")
        return (final + rest).rstrip("/") if rest not in ("/.", "/") else final

    try:
        with tarfile.open(fileobj=source, mode="r|", errorlevel=2) as reader, \
                tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as writer:
            for member in reader:
                member.name = renamed(member.name)
                if member.islnk():
                    member.linkname = renamed(member.linkname)
                writer.addfile(member, reader.extractfile(member) if member.isreg() else None)
    except tarfile.TarError as error:
        raise PalletError(f"the host's archive is not a valid tar: {error}") from error


def copy_out(client, container: str, source: str, destination: str, *, archive: bool,
             follow_link: bool, progress=NULL) -> int:
    """Returns the bytes of the tar, as the local cp counts them for "Successfully copied";
    progress gets the local cp's Bytes: "Copying from container" while the tar arrives
    (total unknown), then while it is unpacked (known)."""
    from pallet.runtime.container.access import host_destination, unpack_on_host
    parent, final = host_destination(source, destination)
    path = source
    if follow_link:
        info = _stat(client, container, source)
        if info is not None and info["mode"] & GO_SYMLINK and info.get("linkTarget"):
            path = info["linkTarget"]
    with api_call(1):
        response = client.get(client._url("/containers/{0}/archive", container),
                              params={"path": path}, stream=True)
        client._raise_for_status(response)
    clean = [part for part in path.split("/") if part not in ("", ".")]
    top = "." if path.rstrip("/").endswith("/.") or path in (".", "/.") or not clean \
        else clean[-1]
    action = "Copying from container"
    with tempfile.TemporaryFile() as spool:
        received = Meter(response.raw, progress, "", action)
        try:
            _rebase(received, spool, top, final)
            while received.read(1 << 16):     # the end-of-archive padding: counted too
                pass
        finally:
            response.close()
        spooled = spool.seek(0, os.SEEK_END)
        spool.seek(0)
        owner = None if archive else (os.geteuid(), os.getegid())
        stream = spool if progress is NULL else Meter(spool, progress, "", action, spooled)
        unpack_on_host(stream, parent, final, owner=owner)
    return received.current    # what the host sent, as the local cp counts its tar


def _container_target(client, container: str, destination: str, name: str) -> tuple[str, str]:
    """(directory in the container, the entry's name there): the local cp's rules
    (access.py _destination_in) decided from the host's stats."""
    dest = "/" + "/".join(p for p in destination.split("/") if p not in ("", "."))
    info = _stat(client, container, dest)
    if info is not None and info["mode"] & GO_SYMLINK and info.get("linkTarget"):
        followed = _stat(client, container, info["linkTarget"])
        if followed is not None and followed["mode"] & GO_DIR:
            return dest, name
    if info is not None and info["mode"] & GO_DIR:
        return dest, name
    if destination.endswith("/"):
        raise PalletError(f"no such directory: {destination} (in the container)")
    into, _, final = dest.rpartition("/")
    parent = _stat(client, container, into or "/")
    if final in ("", "..") or parent is None or not parent["mode"] & (GO_DIR | GO_SYMLINK):
        raise PalletError(f"no such directory: {into or '/'} (in the container)")
    return into or "/", final


def copy_in(client, container: str, source: str, destination: str, *, archive: bool,
            follow_link: bool, progress=NULL) -> int:
    """Returns the bytes of the tar sent; progress gets "Copying to container" as it goes."""
    from pallet.remote.pipe import Produced
    from pallet.runtime.image.tarpack import write_entry_tar
    from pallet.runtime.isolation.confine import Root
    source = os.path.abspath(source)
    if not os.path.lexists(source):
        raise PalletError(f"stat {source}: no such file or directory")
    if follow_link:
        source = os.path.realpath(source)
    host_parent, host_name = os.path.split(os.path.normpath(source))
    name = os.path.basename(os.path.normpath(source)) or "root"
    with api_call(1):
        client.inspect_container(container)   # "No such container" before anything is read
    into, final = _container_target(client, container, destination, name)

    def write(sink) -> None:
        with Root(host_parent or "/") as host:
            metered = sink if progress is NULL else \
                Meter(sink, progress, "", "Copying to container")
            write_entry_tar(host, host_name, metered, arcname=final)

    body = Produced(write)
    params = {"path": into, "noOverwriteDirNonDir": "true"}
    if archive:
        params["copyUIDGID"] = "true"
    try:
        with api_call(1):
            response = client.put(client._url("/containers/{0}/archive", container),
                                  params=params, data=iter(body),
                                  headers={"Content-Type": "application/x-tar"})
            client._raise_for_status(response)
    except Exception:
        # the packer's own failure (an unreadable file) is the story, not the cut upload
        if isinstance(body.error, PalletError):
            raise body.error from None
        raise
    return body.sent
