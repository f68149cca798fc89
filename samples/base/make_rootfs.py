#!/usr/bin/env python3
"""Make a busybox root filesystem tarball from Debian's static busybox (package busybox-static).

    python3 samples/base/make_rootfs.py OUT.tar [--busybox /bin/busybox] [--mtime EPOCH]

The tree: /bin/busybox plus one symlink per applet (busybox --list-full), /etc/passwd (root and
nobody), /etc/group, /tmp (1777), /root (0700), /home, /var, and empty
/proc, /sys, /dev mount points. Entries are sorted and every mtime is fixed (default 0, or
SOURCE_DATE_EPOCH), owners are 0:0: the same busybox binary always gives the same tarball, hence
the same image ID after `pallet import`. No network is needed.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = "root:x:0:\nnobody:x:65534:\n"
DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700,
        "sbin": 0o755, "sys": 0o555, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755,
        "usr/sbin": 0o755, "var": 0o755, "var/spool": 0o755, "var/www": 0o755}


def build(out: str, busybox: str, mtime: int) -> None:
    if not os.path.isfile(busybox):
        sys.exit(f"make_rootfs: {busybox} not found: install the busybox-static package")
    applets = subprocess.run([busybox, "--list-full"], check=True, capture_output=True,
                             text=True).stdout.split()
    entries: dict[str, tarfile.TarInfo] = {}
    payload: dict[str, bytes] = {}

    def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = kind, mode, mtime
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.linkname = link
        info.size = len(data)
        entries[name] = info
        payload[name] = data

    for directory, mode in DIRS.items():
        add(directory, tarfile.DIRTYPE, mode)
    with open(busybox, "rb") as handle:
        add("bin/busybox", tarfile.REGTYPE, 0o755, handle.read())
    for applet in applets:
        if applet == "bin/busybox":
            continue
        parent = applet.rpartition("/")[0]
        if parent and parent not in entries:
            add(parent, tarfile.DIRTYPE, 0o755)
        add(applet, tarfile.SYMTYPE, 0o777, link="/bin/busybox")
    add("etc/passwd", tarfile.REGTYPE, 0o644, PASSWD.encode())
    add("etc/group", tarfile.REGTYPE, 0o644, GROUP.encode())
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            data = payload[name]
            tar.addfile(entries[name], io.BytesIO(data) if data else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--busybox", default="/bin/busybox")
    parser.add_argument("--mtime", type=int, default=int(os.environ.get("SOURCE_DATE_EPOCH", "0")))
    args = parser.parse_args()
    build(args.out, args.busybox, args.mtime)


if __name__ == "__main__":
    main()
