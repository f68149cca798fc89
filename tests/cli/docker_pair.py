"""The preamble of the tests that compare pallet with a private dockerd: one busybox image made
in a fresh pallet store and loaded into the engine, so both sides hold the same image (same ID).

    pair = docker_pair(engine, tmp_path_factory, "volcmp", "volcmp/busybox:1", changes=(...))
    pair.root, pair.engine
    ours, theirs = pair.side_by_side("volume", "ls")     # (returncode, stdout, stderr) each, text
    pair.on_both("run", "--name", "x", IMAGE, "true")    # a set-up step on both sides
    pair.close()                                         # removes pallet's containers
    root, engine = pair                                  # it unpacks as the old fixtures' tuple
    side_by_side(pair, *args)                            # the method, for modules that call it so
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.cli.ctr_helpers import pallet, remove_all_containers
from tests.images import make_busybox_image


@dataclass
class DockerPair:
    root: Path
    engine: object           # tests.dockerd.DockerEngine

    def docker(self, *args: str):
        return self.engine.docker(*args, check=False)

    def pallet(self, *args: str, **kwargs):
        return pallet(self.root, *args, **kwargs)

    def side_by_side(self, *args: str):
        theirs = self.docker(*args)
        ours = self.pallet(*args)
        return ((ours.returncode, ours.stdout.decode(), ours.stderr.decode()),
                (theirs.returncode, theirs.stdout.decode(), theirs.stderr.decode()))

    def on_both(self, *args: str) -> tuple:
        """Run a set-up step on docker, then on pallet; (docker's, pallet's) results."""
        return self.docker(*args), self.pallet(*args)

    def close(self) -> None:
        remove_all_containers(self.root)

    def __iter__(self):
        return iter((self.root, self.engine))


def side_by_side(pair: DockerPair, *args: str):
    return pair.side_by_side(*args)


def docker_pair(engine, tmp_path_factory, label: str, *images: str,
                changes: tuple[str, ...] = ('CMD ["sh"]',)) -> DockerPair:
    root = tmp_path_factory.mktemp(label) / "store"
    for image in images:
        make_busybox_image(root, image, changes=changes)
    archive = root.parent / "image.tar"
    saved = pallet(root, "save", "-o", str(archive), *images)
    assert saved.returncode == 0, saved.stderr
    engine.docker("load", "-i", str(archive))
    return DockerPair(root, engine)
