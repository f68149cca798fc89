"""builder/tarscan.py reads plain ustar headers itself and hands anything else to tarfile: for
every kind of header the members, their fields and their data are what tarfile gives, also
across the hand-over in the middle of an archive, and what tarfile refuses stays refused."""

from __future__ import annotations

import io
import tarfile

import pytest

from pallet.builder.tarscan import scan_members
from pallet.runtime.image.compression import DecompressingReader


def _archive(format_: int, entries) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=format_) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _member(name: str, kind=tarfile.REGTYPE, data: bytes | None = b"", **fields):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mtime = fields.pop("mtime", 1_700_000_000)
    info.mode = fields.pop("mode", 0o640)
    for key, value in fields.items():
        setattr(info, key, value)
    if kind == tarfile.REGTYPE:
        info.size = len(data)
    return info, (data if kind == tarfile.REGTYPE else None)


def _plain():
    return [_member("Dockerfile", data=b"FROM busybox\n"),
            _member("dir", tarfile.DIRTYPE, mode=0o755),
            _member("dir/" + "p" * 120 + "/file", data=b"x" * 1000, uid=1000, gid=50),
            _member("dir/link", tarfile.SYMTYPE, linkname="../Dockerfile"),
            _member("dir/hard", tarfile.LNKTYPE, linkname="Dockerfile"),
            _member("empty", data=b""),
            _member("block", data=b"y" * 512)]


def _fields(info: tarfile.TarInfo) -> tuple:
    return (info.name, info.type, info.size, info.mode, info.uid, info.gid, info.mtime,
            info.linkname, info.offset_data, dict(info.pax_headers))


def _with_tarfile(data: bytes) -> list:
    found = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:", encoding="utf-8",
                      errors="surrogateescape") as tar:
        for info in tar:
            found.append((_fields(info), tar.extractfile(info).read() if info.isreg() else None))
    return found


def _with_scan(data: bytes) -> tuple[list, int]:
    reader = DecompressingReader(io.BytesIO(data), threaded=False)
    scan = scan_members(reader)
    found, handed = [], 0
    for info, tar in scan:
        handed += tar is not None
        content = None
        if info.isreg():
            stream = scan.stream
            if stream.tell() != info.offset_data:
                stream.seek(info.offset_data)
            content = stream.read(info.size)
        found.append((_fields(info), content))
    return found, handed


# ustar keeps the 127-character name in its prefix field; GNU and PAX write a long-name
# record for it, the third member: tarfile reads it and the five members from there on
@pytest.mark.parametrize("format_, handed", [(tarfile.USTAR_FORMAT, 0),
                                             (tarfile.GNU_FORMAT, 5),
                                             (tarfile.PAX_FORMAT, 5)])
def test_plain_headers_are_read_as_tarfile_reads_them(format_, handed):
    data = _archive(format_, _plain())
    found, from_tarfile = _with_scan(data)
    assert found == _with_tarfile(data)
    assert from_tarfile == handed


@pytest.mark.parametrize("odd", [
    _member("d/" + "long" * 40, data=b"a long name: GNU or PAX records"),
    _member("naïve-ünïcode", data=b"PAX path record"),
    _member("big-uid", data=b"base-256 in GNU", uid=2**22),
    _member("fifo", tarfile.FIFOTYPE),
    _member("dev", tarfile.CHRTYPE, devmajor=1, devminor=3),
])
@pytest.mark.parametrize("format_", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_anything_else_hands_the_rest_over_to_tarfile(odd, format_):
    entries = _plain()[:3] + [odd] + _plain()[3:]
    try:
        data = _archive(format_, entries)
    except ValueError:
        pytest.skip("this format cannot hold that member")   # not counted: a fixture limit
    found, from_tarfile = _with_scan(data)
    assert found == _with_tarfile(data)
    assert from_tarfile >= 1 and [f[0][0] for f in found][:3] == [e[0].name for e in entries][:3]


def test_a_global_pax_header_applies_to_what_follows():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"comment": "global"}) as tar:
        for info, data in _plain():
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    data = buffer.getvalue()
    found, _ = _with_scan(data)
    assert found == _with_tarfile(data)


@pytest.mark.parametrize("damage", ["checksum", "truncated-header", "empty", "octal"])
def test_broken_headers_are_refused(damage):
    """Also after the first member, where tarfile would end the archive there silently (a
    corrupt header would cut the context short without a word)."""
    data = bytearray(_archive(tarfile.USTAR_FORMAT, _plain()))
    second = 1024     # the second member's header ("dir"), after Dockerfile's header and data
    if damage == "checksum":
        data[second + 148:second + 156] = b"0000000\0"
    elif damage == "octal":
        data[second + 100:second + 108] = b"0009999\0"
    elif damage == "truncated-header":
        data = data[:second + 100]
    else:
        data = b""
    with pytest.raises(tarfile.TarError):
        _with_scan(bytes(data))


def test_a_broken_header_after_the_hand_over_is_refused_too():
    entries = _plain()[:3] + [_member("naïve", data=b"pax")] + _plain()[3:]
    data = bytearray(_archive(tarfile.PAX_FORMAT, entries))
    found = _with_tarfile(bytes(data))
    last = found[-1][0][8] - 512           # the last member's header
    data[last + 148:last + 156] = b"0000000\0"
    assert len(_with_tarfile(bytes(data))) == len(found) - 1   # tarfile: a silent end
    with pytest.raises(tarfile.TarError):
        _with_scan(bytes(data))
