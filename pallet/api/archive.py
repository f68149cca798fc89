"""A container's filesystem: archive (HEAD stat, GET tar, PUT tar) and export."""

from __future__ import annotations

import base64
import json
import tempfile

from pallet.api.protocol import ApiError, Reply

STAT_HEADER = "X-Docker-Container-Path-Stat"


def _path(request) -> str:
    path = request.arg("path")
    if not path:
        raise ApiError(400, "bad parameter: path must not be empty")
    return path


def _stat_header(info: dict) -> str:
    return base64.b64encode(json.dumps(info).encode()).decode()


def stat(request) -> Reply:
    from pallet.runtime.container.archive import stat_path
    info = stat_path(request.container(), _path(request))
    return Reply(200, b"", None, {STAT_HEADER: _stat_header(info)})


def get(request) -> None:
    from pallet.runtime.container.archive import archive_path
    record = request.container()
    with tempfile.TemporaryFile() as spool:
        info = archive_path(record, _path(request), spool)
        spool.seek(0)
        writer = request.stream("application/x-tar", headers={STAT_HEADER: _stat_header(info)})
        while chunk := spool.read(1 << 20):
            writer.write(chunk)
        writer.close()


def put(request) -> Reply:
    from pallet.runtime.container.archive import extract_into
    record = request.container()
    extract_into(record, _path(request), request.body(),
                 no_overwrite_dir_non_dir=request.flag("noOverwriteDirNonDir"),
                 copy_uid_gid=request.flag("copyUIDGID"))
    return Reply(200)


def export(request) -> None:
    from pallet.runtime.container.access import export_rootfs
    record = request.container()
    with tempfile.TemporaryFile() as spool:
        export_rootfs(record, spool)
        spool.seek(0)
        writer = request.stream("application/x-tar")
        while chunk := spool.read(1 << 20):
            writer.write(chunk)
        writer.close()
