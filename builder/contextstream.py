"""A build context that arrives as a stream (a remote or API build, `build - < ctx.tar`):
a (compressed) tar unpacked by the runtime's one extractor, or a bare build file.

    load_stream_context(stream, scratch, progress) -> (directory | None, build file | None, entries)
"""

from __future__ import annotations

from pathlib import Path


def load_stream_context(stream, scratch: Path, progress) -> tuple[Path | None, bytes | None, int]:
    """context_from_stream over a stream that is a transfer (a remote build, `build - <
    ctx.tar`), shown as BuildKit's "[internal] load build context" step with its
    "transferring context: SIZE TIME done" status."""
    import time

    from pallet.builder.progress import transfer_size
    progress.start("internal-context", "[internal] load build context")
    started = time.monotonic()
    data = stream.read()
    found = context_from_stream(data, scratch)
    progress.status("internal-context", f"transferring context: {transfer_size(len(data))} "
                                        f"{time.monotonic() - started:.1f}s done")
    progress.done("internal-context")
    return found


def context_from_stream(data: bytes, scratch: Path) -> tuple[Path | None, bytes | None, int]:
    """``docker build - < X``: a (compressed) tar is unpacked into scratch/context by the
    runtime's extractor (confined to that directory, hard links only to its own members);
    anything else is a bare build file, returned as bytes (the reader decodes it strictly,
    with the build file's name). Returns (context directory, build file, entries unpacked)."""
    import io
    from pallet.runtime.image.compression import DecompressingReader, sniff_compression
    if sniff_compression(data[:4]) == "none" and not _looks_like_tar(data):
        return None, data, 0
    from pallet.runtime.image.unpack import extract_layer
    directory = scratch / "context"
    directory.mkdir(mode=0o700)
    reader = DecompressingReader(io.BytesIO(data), name="build context from stdin")
    try:
        stats = extract_layer(reader, directory, whiteouts="keep")
        reader.drain()
    finally:
        reader.close()
    return directory, None, stats.entries


def _looks_like_tar(data: bytes) -> bool:
    if len(data) < 512:
        return False
    import tarfile
    try:
        tarfile.TarInfo.frombuf(data[:512], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True
