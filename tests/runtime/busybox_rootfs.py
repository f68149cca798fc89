"""A busybox root filesystem directory for isolation tests, made from the host's busybox-static."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

BUSYBOX = shutil.which("busybox") or "/bin/busybox"

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
          "nobody:x:65534:65534:nobody:/home:/bin/false\n"
          "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n")
GROUP = ("root:x:0:\n"
         "daemon:x:1:\n"
         "staff:x:50:alice\n"
         "nogroup:x:65534:\n"
         "alice:x:1000:\n"
         "audio:x:29:alice\n")


def make_busybox_rootfs(root: Path) -> Path:
    """root/bin/busybox plus one symlink per applet, /etc/passwd and /etc/group."""
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "root").mkdir(mode=0o700)
    (root / "tmp").mkdir(mode=0o1777)
    os.chmod(root / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", root / "bin" / applet)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    return root
