#!/usr/bin/env python3
"""Store benchmarks: layer pack/unpack against GNU tar on the same tree, `pallet images` with
500 images, and peak memory of packing (streaming: flat whatever the layer size).

    .venv/bin/python bench/bench_store.py [--mb 300] [--files 10000] [--images 500] [--workdir DIR]

Prints a Markdown table (paste into bench/RESULTS-store.md). Each figure is the best of --repeat
runs, with the page cache warm for both tools.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def make_tree(root: Path, total_mb: int, files: int, seed: int = 7) -> int:
    """files files in 100 directories, sizes varied, content ~2.5x compressible like real trees."""
    rng = random.Random(seed)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
             for _ in range(2000)]
    text = b" ".join(rng.choice(words) for _ in range(400_000))
    noise = os.urandom(8 << 20)
    average = total_mb * 1_000_000 // files
    total = 0
    for index in range(files):
        directory = root / f"d{index % 100:02d}" / f"s{index % 7}"
        directory.mkdir(parents=True, exist_ok=True)
        size = max(1, int(rng.expovariate(1 / average))) if index < files - 1 else \
            max(1, total_mb * 1_000_000 - total)
        size = min(size, 8 << 20)
        start = rng.randrange(0, len(text) - size) if size < len(text) else 0
        body = bytearray(text[start:start + size // 3 * 2])
        offset = rng.randrange(0, len(noise) - size) if size < len(noise) else 0
        body += noise[offset:offset + size - len(body)]
        (directory / f"f{index}").write_bytes(bytes(body))
        total += len(body)
    return total


def timed(function, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def timed_pair(ours, theirs, repeat: int) -> tuple[float, float]:
    """Best of `repeat` for each, alternating the two so both see the same machine load."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for index, function in enumerate((ours, theirs)):
            start = time.perf_counter()
            function()
            best[index] = min(best[index], time.perf_counter() - start)
    return best[0], best[1]


def run(argv: list[str], **kwargs) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kwargs)


def child_peak_rss_kb(code: str) -> int:
    # VmHWM (peak RSS of this address space) starts afresh at exec; ru_maxrss would not.
    probe = ("\nprint([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    result = subprocess.run([sys.executable, "-c", code + probe], check=True, capture_output=True,
                            text=True, cwd=REPO)
    return int(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    from pallet.runtime.image.committing import commit_image
    from pallet.runtime.image.layers import pack_layer, unpacked_layer_dir
    from pallet.runtime.store.content import Store

    work = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.workdir))
    rows = []
    try:
        tree = work / "tree"
        size = make_tree(tree, args.mb, args.files)
        mb = size / 1e6
        run(["tar", "-C", str(tree), "-cf", "/dev/null", "."])          # warm the page cache
        store = Store.open(work / "store")
        for label, compression, level, tar_flag in (("gzip -1", "gzip", 1, "gzip -1"),
                                                    ("gzip -6", "gzip", 6, "gzip -6"),
                                                    ("zstd -3", "zstd", 3, "zstd -3 -T1")):
            layers = []
            out = work / "gnu.tar.x"
            ours, gnu = timed_pair(
                lambda: layers.append(pack_layer(store, tree, compression=compression,
                                                 compression_level=level)),
                lambda: run(["tar", "-C", str(tree), f"--use-compress-program={tar_flag}",
                             "-cf", str(out), "."]), args.repeat)
            layer = layers[-1]
            rows.append((f"pack {label}", mb / ours, mb / gnu, layer.size, out.stat().st_size))

            def ours_unpack():
                target = store.layers / layer.diff_id[7:]
                if target.exists():
                    shutil.rmtree(target)
                unpacked_layer_dir(store, layer, layer.diff_id)

            dest = work / "gnu-out"

            def gnu_unpack():
                if dest.exists():
                    shutil.rmtree(dest)
                dest.mkdir()
                run(["tar", "-C", str(dest), f"--use-compress-program={tar_flag.split()[0]}",
                     "-xf", str(out)])

            ours_u, gnu_u = timed_pair(ours_unpack, gnu_unpack, args.repeat)
            rows.append((f"unpack {label}", mb / ours_u, mb / gnu_u, None, None))
            for blob in store.list_blobs():
                store.delete_blob(blob)

        pack_rss = child_peak_rss_kb(
            "from pathlib import Path\nfrom pallet.runtime.store.content import Store\n"
            "from pallet.runtime.image.layers import pack_layer\n"
            f"pack_layer(Store.open(Path({str(work / 'rss')!r})), Path({str(tree)!r}))")
        idle_rss = child_peak_rss_kb("import pallet.runtime.image.layers")

        images_root = work / "images"
        images_store = Store.open(images_root)
        small = work / "small"
        (small / "etc").mkdir(parents=True)
        (small / "etc/hostname").write_text("bench\n")
        base = pack_layer(images_store, small)
        start = time.perf_counter()
        for number in range(args.images):
            commit_image(images_store, config={"config": {"Env": [f"N={number}"]}}, layers=[base],
                         tags=[f"bench/app{number % 50}:{number}"])
        create_seconds = time.perf_counter() - start
        pallet = Path(sys.executable).parent / "pallet"
        listing = subprocess.run([str(pallet), "--root", str(images_root), "images"], check=True,
                                 capture_output=True, text=True).stdout
        assert len(listing.splitlines()) == args.images + 1
        images_ms = 1000 * timed(lambda: run([str(pallet), "--root", str(images_root), "images"]), 5)
        help_ms = 1000 * timed(lambda: run([str(pallet), "--help"]), 5)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    print(f"Machine: {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{subprocess.run(['tar', '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
    print(f"Tree: {args.files} files, {mb:.0f} MB; best of {args.repeat}, pallet and GNU tar "
          f"alternating; load average at the end: {os.getloadavg()[0]:.1f}\n")
    print("| operation | pallet MB/s | GNU tar MB/s | pallet/GNU | pallet blob | GNU tar file |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, ours, gnu, our_size, gnu_size in rows:
        sizes = f"{our_size / 1e6:.1f} MB | {gnu_size / 1e6:.1f} MB" if our_size else " | "
        print(f"| {name} | {ours:.0f} | {gnu:.0f} | {100 * ours / gnu:.0f}% | {sizes} |")
    print(f"\n`pallet images` with {args.images} images: {images_ms:.0f} ms (best of 5; "
          f"`pallet --help` alone: {help_ms:.0f} ms). Creating them with commit_image: "
          f"{1000 * create_seconds / args.images:.1f} ms per image.")
    print(f"Peak RSS packing the {mb:.0f} MB tree: {pack_rss / 1024:.0f} MiB "
          f"(importing the module alone: {idle_rss / 1024:.0f} MiB).")
    print(json.dumps({"rows": rows, "images_ms": images_ms, "pack_rss_kb": pack_rss}), file=sys.stderr)


if __name__ == "__main__":
    main()
