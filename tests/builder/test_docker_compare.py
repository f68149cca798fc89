"""Build a corpus of build files with pallet and with Docker's classic builder (a private
dockerd), then compare the two images: flattened filesystems (paths, types, modes, owners,
link targets, contents; never mtimes) and the container configs.

Both builds start from the same busybox image (pallet's, loaded into Docker, so the base has
the same ID on both sides). Docker's image comes back through `docker save` + pallet's loader.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from tests.builder.conftest import build_image, flatten, image_config, write_tree
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)
from tests.images import make_busybox_image

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root]

CONFIG_FIELDS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes",
                 "Labels", "StopSignal", "Healthcheck", "Shell", "OnBuild")


def _tar_gz(members: dict[str, bytes]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o640
            info.uid, info.gid = 12, 34
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(data.getvalue(), mtime=0)


CORPUS: dict[str, dict[str, str | bytes]] = {
    "copy-files-dirs-wildcards": {
        "Dockerfile": "FROM busybox\nCOPY a.txt /a.txt\nCOPY dir /dirdest\nCOPY dir/ /dirslash/\n"
                      "COPY *.md /docs/\nCOPY a.txt b.md /multi/\nCOPY a.txt /deep/new/parents/f\n"
                      "WORKDIR /work\nCOPY a.txt rel\nCOPY dir sub/\n",
        "a.txt": "A\n", "b.md": "# b\n", "c.md": "# c\n", "dir/x": "x", "dir/inner/y": "y"},
    "copy-chown-and-existing-dirs": {
        "Dockerfile": "FROM busybox\nRUN echo 'app:x:1000:1001::/home/app:/bin/sh' >> /etc/passwd"
                      " && echo 'grp:x:1001:' >> /etc/group && echo 'other:x:2000:' >> /etc/group\n"
                      "COPY --chown=app:grp a.txt /home/app/a\nCOPY --chown=app:other dir /owned/\n"
                      "COPY --chown=5:6 a.txt /etc/\nCOPY a.txt /tmp/\n",
        "a.txt": "A\n", "dir/x": "x"},
    "run-changes-and-whiteouts": {
        "Dockerfile": "FROM busybox\nRUN mkdir -p /opt/app/bin && echo hi > /opt/app/bin/hi && "
                      "chmod 4755 /opt/app/bin/hi && ln -s /opt/app/bin/hi /usr/bin/hi\n"
                      "RUN rm -rf /var /etc/group && echo changed >> /etc/passwd\n"
                      "RUN rm /opt/app/bin/hi && mkdir /var && touch /var/new\n"
                      "ENV P=/opt\nRUN ls $P > /listing\n",
    },
    "metadata": {
        "Dockerfile": "FROM busybox\nENV A=1 B=\"two words\"\nENV C $A-x\nLABEL maintainer=me "
                      "\"quoted key\"=v\nEXPOSE 80 53/udp 8000-8002\nVOLUME /data [\"/logs\"]\n"
                      "VOLUME [\"/json\"]\nUSER 1000:1000\nSTOPSIGNAL SIGINT\n"
                      "HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost || exit 1\n"
                      "ONBUILD RUN echo child\nENTRYPOINT [\"/bin/echo\"]\nCMD [\"hello\"]\n",
    },
    "shell-form-entrypoint-and-shell": {
        "Dockerfile": "FROM busybox\nSHELL [\"/bin/sh\", \"-ec\"]\nRUN echo shell > /s\n"
                      "CMD echo from cmd\nENTRYPOINT exec top -b\n",
    },
    "args-and-scoping": {
        "Dockerfile": "ARG BASE=busybox\nARG GLOBAL=g\nFROM ${BASE}\nARG GLOBAL\nARG LOCAL=l-$GLOBAL\n"
                      "ENV FROM_ARG=$LOCAL\nRUN echo $GLOBAL $LOCAL > /args\nARG LATE\n"
                      "RUN echo \"[$LATE]\" > /late\n",
    },
    "multi-stage": {
        "Dockerfile": "FROM busybox AS build\nRUN mkdir /out && echo built > /out/bin && "
                      "chown 7:8 /out/bin\nFROM busybox AS unused\nRUN echo unused > /u\n"
                      "FROM build AS more\nRUN echo more > /out/more\n"
                      "FROM busybox\nCOPY --from=build /out /app\nCOPY --from=more /out/more /m\n"
                      "COPY --from=0 /out/bin /byindex\n",
    },
    "add-local-archives": {
        "Dockerfile": "FROM busybox\nADD bundle.tgz /opt/\nADD plain.txt /plain/\nADD bundle.tgz /keep.tgz/\n",
        "bundle.tgz": _tar_gz({"pkg/readme": b"read me", "pkg/bin/tool": b"#!/bin/sh\n"}),
        "plain.txt": "plain"},
    "dockerignore-and-symlinks": {
        "Dockerfile": "FROM busybox\nCOPY . /ctx/\n",
        ".dockerignore": "*.log\nbuild/\n!build/keep.txt\n**/*.tmp\n",
        "src/main.c": "int main;\n", "app.log": "no", "build/out.o": "no", "build/keep.txt": "yes",
        "src/deep/x.tmp": "no", "src/deep/y.c": "yes"},
}
CORPUS.update({
    "substitution-in-every-instruction": {
        "Dockerfile": "FROM busybox\nARG PORT=8080\nENV DIR=/srv/data NAME=app SIG=SIGQUIT\n"
                      "WORKDIR ${DIR}\nCOPY ${NAME}.txt ./${NAME}-copy.txt\nEXPOSE $PORT/udp\n"
                      "VOLUME $DIR/vol\nLABEL name=$NAME port=${PORT:-80} unset=${NOPE:-dflt}\n"
                      "STOPSIGNAL $SIG\nUSER ${NAME}:${NAME}\nENV LATER=\"$DIR and $NAME\"\n",
        "app.txt": "app"},
    "dest-through-symlinks-and-overwrites": {
        "Dockerfile": "FROM busybox\nRUN mkdir -p /real/dir && ln -s /real /link && "
                      "echo old > /real/dir/f && mkdir /target\n"
                      "COPY f /link/dir/f\nCOPY f /link/dir/new\nCOPY d /target\nCOPY d/ /link/\n",
        "f": "new contents\n", "d/x": "x", "d/sub/y": "y"},
    "entrypoint-and-cmd-across-stages": {
        "Dockerfile": "FROM busybox AS base\nCMD [\"base-cmd\"]\nFROM base AS child\n"
                      "ENTRYPOINT [\"/bin/sh\", \"-c\"]\nFROM child\nCMD [\"echo final\"]\n"},
    "add-xz-and-bzip2": {
        "Dockerfile": "FROM busybox\nADD one.tar.xz /xz/\nADD two.bin /bz/\n",
        "one.tar.xz": b"", "two.bin": b""},
    "workdir-chains": {
        "Dockerfile": "FROM busybox\nWORKDIR /a\nWORKDIR b\nWORKDIR ../c/./d\nRUN pwd > here\n"
                      "WORKDIR /etc\nWORKDIR /\n"},
})


def _compressed(kind: str, members: dict[str, bytes]) -> bytes:
    import bz2
    import lzma
    raw = gzip.decompress(_tar_gz(members))
    return lzma.compress(raw) if kind == "xz" else bz2.compress(raw)


CORPUS["add-xz-and-bzip2"]["one.tar.xz"] = _compressed("xz", {"a/one": b"1", "a/b/two": b"22"})
CORPUS["add-xz-and-bzip2"]["two.bin"] = _compressed("bz2", {"bz/three": b"333"})

# A context whose links point at host paths: Docker resolves them inside the context (its
# own etc/passwd here), never on the host.
CORPUS["symlinks-scoped-to-the-context"] = {
    "Dockerfile": "FROM busybox\nCOPY subdir/passwd /a\nCOPY up/passwd /b\nCOPY flink /c\n"
                  "COPY subdir /d/\nCOPY nested/deeper/passwd /e\n",
    "etc/passwd": "the context's passwd\n", "nested/keep": "k"}
SYMLINKS = {"dockerignore-and-symlinks": [("src/link", "main.c"), ("abs-link", "/etc/passwd")],
            "symlinks-scoped-to-the-context": [
                ("subdir", "/etc"), ("up", "../../../../../../../../etc"),
                ("flink", "/etc/passwd"), ("nested/deeper", "../subdir")]}
MODES = {"copy-files-dirs-wildcards": [("dir", 0o750), ("dir/x", 0o600), ("a.txt", 0o755)]}


@pytest.fixture(scope="module")
def engines(dockerd, tmp_path_factory):  # noqa: F811
    """(pallet store root with busybox, the docker engine with the same busybox loaded)."""
    from pallet.runtime.image.archive import save_images
    from pallet.runtime.store.content import Store
    work = tmp_path_factory.mktemp("compare")
    root = work / "pallet"
    root.mkdir()
    make_busybox_image(root)
    save_images(Store.open(root), ["busybox:latest"], work / "busybox.tar")
    dockerd.docker("load", "-i", str(work / "busybox.tar"))
    return root, dockerd, work


def _prepare(work: Path, name: str) -> Path:
    import os
    context = write_tree(work / name, CORPUS[name])
    for link, target in SYMLINKS.get(name, []):
        os.symlink(target, context / link)
    for path, mode in MODES.get(name, []):
        os.chmod(context / path, mode)
    return context


def _docker_image(engine, context: Path, work: Path, name: str, root: Path) -> str:
    from pallet.runtime.image.archive import load_images
    from pallet.runtime.store.content import Store
    tag = f"docker-{name}:1"
    engine.docker("build", "-q", "-t", tag, str(context))
    archive = work / f"{name}.tar"
    engine.docker("save", "-o", str(archive), tag)
    with open(archive, "rb") as handle:
        load_images(Store.open(root), handle)
    return tag


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_pallet_and_docker_build_the_same_image(engines, name):
    root, engine, work = engines
    context = _prepare(work, name)
    docker_tag = _docker_image(engine, context, work, name, root)
    result, _ = build_image(root, context, tags=(f"pallet-{name}:1",))
    ours, theirs = flatten(root, f"pallet-{name}:1"), flatten(root, docker_tag)
    only_ours = {p: ours[p] for p in ours.keys() - theirs.keys()}
    only_theirs = {p: theirs[p] for p in theirs.keys() - ours.keys()}
    differ = {p: (ours[p], theirs[p]) for p in ours.keys() & theirs.keys() if ours[p] != theirs[p]}
    assert (only_ours, only_theirs, differ) == ({}, {}, {})
    our_config = image_config(root, f"pallet-{name}:1")["config"]
    their_config = image_config(root, docker_tag)["config"]
    for field in CONFIG_FIELDS:
        assert (our_config.get(field) or None) == (their_config.get(field) or None), field
