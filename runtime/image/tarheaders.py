"""What a tar header may say, checked before the extractor acts on it (runtime/image/unpack.py)
or load indexes it (archive_source.py): bounded extended headers, owners chown(2) can take,
device numbers makedev can take, times utimensat can take (Docker's rule: otherwise the
epoch). Each refusal is a PalletError naming the member."""

from __future__ import annotations

import tarfile

from pallet.base.errors import PalletError

# Go's archive/tar (Docker's reader) refuses PAX records and GNU long names larger than this
# (maxSpecialFileSize); tarfile would read whatever size the header declares into memory.
MAX_SPECIAL_BYTES = 1 << 20
_SPECIAL_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                  tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
MAX_ID = 2**32 - 2            # (uid_t)-1 means "unchanged" to chown
MAX_TIME_NS = 2**63 - 1


def unsafe(member: str, why: str) -> PalletError:
    return PalletError(f"unsafe archive content: member {member!r} {why}",
                       hint="the archive is malformed or malicious; nothing was stored")


class BoundedTarInfo(tarfile.TarInfo):
    """A header whose special records (PAX, GNU long names) are refused past
    MAX_SPECIAL_BYTES before tarfile reads them."""

    def _proc_member(self, tarfile_):
        if self.type in _SPECIAL_TYPES and self.size > MAX_SPECIAL_BYTES:
            raise unsafe(self.name, f"has a {self.size}-byte extended header (at most "
                                  f"{MAX_SPECIAL_BYTES} bytes, as Docker's reader allows)")
        return super()._proc_member(tarfile_)


def mtime_ns(info: tarfile.TarInfo) -> int:
    """The member's mtime in ns; out of range (or not a number) is the epoch, as Docker's
    Chtimes does."""
    text = info.pax_headers.get("mtime", "")
    seconds, dot, fraction = text.partition(".")
    if seconds.lstrip("-").isdigit() and (not dot or fraction.isdigit()):
        # exact, from the record (tarfile's float loses the nanoseconds)
        value = int(seconds) * 10**9
        nanos = int(fraction[:9].ljust(9, "0")) if fraction else 0
        value += -nanos if seconds.startswith("-") else nanos
    else:
        try:
            value = int(info.mtime * 10**9) if isinstance(info.mtime, float) else info.mtime * 10**9
        except (OverflowError, ValueError):   # inf, nan
            return 0
    return value if 0 <= value <= MAX_TIME_NS else 0


def check_numbers(info: tarfile.TarInfo) -> None:
    for what, value in (("uid", info.uid), ("gid", info.gid)):
        if not 0 <= value <= MAX_ID:
            raise unsafe(info.name, f"has {what} {value}, outside 0..{MAX_ID}")
    if info.ischr() or info.isblk():
        for what, value in (("major", info.devmajor), ("minor", info.devminor)):
            if not 0 <= value < 2**32:
                raise unsafe(info.name, f"has device {what} {value}, outside 0..{2**32 - 1}")
