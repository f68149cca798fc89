"""The build context a remote build sends: the local directory after .dockerignore, as a tar
written while it is uploaded.

    sent = prepare(directory, dockerfile=None|path|"-", dockerfile_text=None|bytes)
    sent.dockerfile           the build file's name inside the tar (the API's dockerfile=)
    sent.write(sink)          the tar, member by member, into sink.write(bytes)

The walk and the ignore rules are the builder's own (BuildContext.walk, the ignore file it
would read, IgnoreRules), so a remote build sends exactly the files a local build could
COPY. As the docker CLI: the build file and the ignore file are sent even when the rules
exclude them; a build file outside the context (or from stdin) travels as
`.dockerfile.<20 hex>` at the top, added to the .dockerignore the host reads so `COPY . .`
does not pick it up; owners are 0:0. Every file is checked readable before the upload starts
(the CLI's ValidateContextDirectory), so an unreadable one is the CLI's error, not a broken
upload.
"""

from __future__ import annotations

import errno
import os
import stat as statmod
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from pallet.base.errors import PalletError


@dataclass(frozen=True)
class SentContext:
    directory: Path
    dockerfile: str                               # its name in the tar
    ignore_text: str | None                       # the rules the walk applied
    extra: dict[str, bytes] = field(default_factory=dict)   # name -> content, added at the top
    replaced: frozenset[str] = frozenset()        # context files an extra stands in for
    entries: tuple = ()                           # (rel, lstat) the walk kept, in order

    def write(self, sink) -> None:
        write_tar(self, sink)


def _dockerfile(directory: Path, dockerfile: str | None) -> tuple[str | None, Path | None]:
    """(its path inside the context, or None when outside; the host file, when it is one),
    by the local build's rules: -f names a host file when it exists there, else the
    context's own; no -f is the context's Dockerfile (Containerfile, dockerfile)."""
    from pallet.builder.context import default_dockerfile
    from pallet.runtime.isolation.confine import Root
    if dockerfile is None:
        with Root(directory) as root:
            name = default_dockerfile(root)
        if name is None:
            raise PalletError("failed to read dockerfile: open Dockerfile: no such file or "
                              "directory", hint="add a Dockerfile to the context or name one "
                                                "with -f")
        return name, directory / name
    candidate = Path(dockerfile)
    if not candidate.is_absolute() and not candidate.exists():
        with Root(directory) as root:
            if root.stat(dockerfile) is None:
                raise PalletError(f"failed to read dockerfile: open {dockerfile}: no such file "
                                  "or directory", hint="check the -f path")
        return "/".join(p for p in dockerfile.split("/") if p not in ("", ".")), None
    host = candidate.absolute()
    if not host.is_file():
        raise PalletError(f"failed to read dockerfile: open {dockerfile}: no such file or "
                          "directory", hint="check the -f path")
    base = str(directory.resolve()).rstrip("/") + "/"
    real = os.path.realpath(host)
    if real.startswith(base):
        return real[len(base):], host
    return None, host


def prepare(directory: Path, *, dockerfile: str | None = None,
            dockerfile_text: bytes | None = None) -> SentContext:
    from pallet.builder.context import ignore_file_text
    if not directory.is_dir():
        raise PalletError(f"unable to prepare context: path {str(directory)!r} not found")
    directory = directory.resolve()
    extra: dict[str, bytes] = {}
    if dockerfile_text is not None:
        inside, host = None, None
    else:
        inside, host = _dockerfile(directory, dockerfile)
    text = ignore_file_text(context_dir=directory, dockerfile=host)
    keep = [".dockerignore"]
    if inside is not None:
        keep.append(inside)
        if host is not None and (directory / f"{inside}.dockerignore").is_file():
            keep.append(f"{inside}.dockerignore")
        name, replaced = inside, frozenset()
    else:
        from pallet.grammar.lines import MAX_FILE_BYTES
        name = ".dockerfile." + os.urandom(10).hex()
        if dockerfile_text is None:
            try:
                dockerfile_text = host.read_bytes()[:MAX_FILE_BYTES + 1]
            except OSError as error:
                raise PalletError(f"unable to open Dockerfile: {error.strerror}") from error
        extra[name] = dockerfile_text
        extra[".dockerignore"] = f"{text if text is not None else '.dockerignore'}\n{name}\n" \
            .encode()
        replaced = frozenset({".dockerignore"})
    rules = None
    if text is not None:
        from pallet.grammar.dockerignore import IgnoreRules
        rules = IgnoreRules.parse(text + "\n" + "\n".join(f"!{path}" for path in keep) + "\n")
    entries = _walk(directory, rules, replaced)
    return SentContext(directory=directory, dockerfile=name, ignore_text=text, extra=extra,
                       replaced=replaced, entries=entries)


def _walk(directory: Path, rules, replaced: frozenset[str]) -> tuple:
    """What the builder's walk keeps, each file checked readable (the CLI's check)."""
    from pallet.builder.context import BuildContext
    from pallet.builder.statcache import StatCache
    context = BuildContext(directory=directory, ignore=rules,
                           stat_cache=StatCache(context_dir=directory, cache_file=None))
    entries = []
    try:
        for rel, origin, st in context.walk():
            if origin in replaced:
                continue
            if statmod.S_ISREG(st.st_mode) and not os.access(directory / origin, os.R_OK):
                raise _unreadable(directory / origin)
            entries.append((origin, st))
    finally:
        context.close()
    return tuple(entries)


def _unreadable(path: Path) -> PalletError:
    return PalletError(f"error checking context: no permission to read from '{path}'")


def write_tar(sent: SentContext, sink) -> None:
    """The tar into sink: the extras first, then every kept entry in the walk's order."""
    from pallet.runtime.isolation.confine import Root
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT,
                      encoding="utf-8", errors="surrogateescape") as tar, \
            Root(sent.directory) as root:
        for name, data in sent.extra.items():
            import io
            import time
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        for origin, st in sent.entries:
            info = tarfile.TarInfo(origin)
            info.mode = statmod.S_IMODE(st.st_mode)
            info.mtime = max(int(st.st_mtime), 0)
            info.uid = info.gid = 0
            if statmod.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif statmod.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = root.readlink(origin)
                tar.addfile(info)
            else:
                _add_file(tar, root, origin, info, sent.directory)


def _add_file(tar, root, origin: str, info, directory: Path) -> None:
    try:
        fd = root.open(origin, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if error.errno in (errno.EACCES, errno.EPERM):
            raise _unreadable(directory / origin) from error
        if error.errno in (errno.ENOENT, errno.ELOOP):
            return        # gone (or replaced by a link) since the walk: not part of it now
        raise PalletError(f"cannot read {directory / origin}: {error.strerror}") from error
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)
        if not statmod.S_ISREG(st.st_mode):
            return
        info.size = st.st_size
        try:
            tar.addfile(info, handle)
        except OSError as error:
            raise PalletError(f"cannot read {directory / origin}: {error.strerror}") from error
        except tarfile.ReadError as error:   # shorter than its size: changed while sent
            raise PalletError(f"{directory / origin} changed while it was sent") from error
