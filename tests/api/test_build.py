"""POST /build through the stock docker CLI (classic builder, DOCKER_BUILDKIT=0) and the SDK:
tags, build args, target, labels, -q, failures, a Dockerfile that tries to leave the context,
and a client that goes away mid-build."""

from __future__ import annotations

import io
import json
import socket
import tarfile
import time

import pytest

pytestmark = [pytest.mark.server, pytest.mark.root]

DOCKERFILE = """\
FROM busybox AS base
ARG GREETING=hello
RUN echo "$GREETING from a build" > /greeting
COPY data.txt /data.txt
LABEL stage=base

FROM base AS final
RUN cat /greeting /data.txt
CMD ["cat", "/greeting"]
"""


def _context(tmp_path, dockerfile: str = DOCKERFILE):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile)
    (context / "data.txt").write_text("context data\n")
    return context


def test_docker_build_tags_args_target_and_labels(api, tmp_path):
    context = _context(tmp_path)
    result = api.docker("build", "-t", "built:1", "-t", "built:latest", "--build-arg",
                        "GREETING=bonjour", "--label", "team=api", str(context), check=True)
    output = result.stdout.decode()
    assert "Successfully built" in output and "Successfully tagged built:1" in output
    assert api.docker("run", "--rm", "built:1").stdout == b"bonjour from a build\n"
    labels = json.loads(api.docker("inspect", "-f", "{{json .Config.Labels}}", "built:1",
                                   check=True).stdout)
    assert labels == {"stage": "base", "team": "api"}
    quiet = api.docker("build", "-q", "--target", "base", str(context), check=True)
    image_id = quiet.stdout.decode().strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    config = json.loads(api.docker("image", "inspect", image_id, check=True).stdout)[0]
    assert config["Config"]["Cmd"] == ["sh"]   # the base stage keeps busybox's CMD


def test_failing_build_reports_and_tags_nothing(api, tmp_path):
    context = _context(tmp_path, "FROM busybox\nRUN echo about to fail && exit 3\n")
    result = api.docker("build", "-t", "broken:1", str(context))
    assert result.returncode == 1
    assert b"exit 3" in result.stderr or b"exit code: 3" in result.stderr or \
        b"returned a non-zero code: 3" in result.stderr
    assert api.docker("images", "-q", "broken:1").stdout.strip() == b""
    syntax = _context(tmp_path / "two", "FROM busybox\nNOTANINSTRUCTION x\n") \
        if (tmp_path / "two").mkdir() is None else None
    bad = api.docker("build", str(syntax))
    assert bad.returncode == 1 and b"NOTANINSTRUCTION" in bad.stderr


def test_build_add_host_reaches_run_steps_and_bad_entries_are_refused(api, tmp_path):
    """--add-host through the classic API (extrahosts, repeated as the docker CLI sends it):
    each entry in RUN's /etc/hosts; a malformed one is docker's error and builds nothing."""
    context = _context(tmp_path, "FROM busybox\nRUN grep -E 'first|second' /etc/hosts\n")
    result = api.docker("build", "--no-cache", "--add-host", "first:10.9.8.7",
                        "--add-host", "second:10.9.8.6", str(context), check=True)
    output = result.stdout.decode()
    assert "10.9.8.7\tfirst" in output and "10.9.8.6\tsecond" in output
    client = api.client(version="auto")
    image, logs = client.images.build(path=str(context), extra_hosts={"first": "10.9.8.5"},
                                      nocache=True)
    assert any("10.9.8.5\tfirst" in chunk.get("stream", "") for chunk in logs)
    # the docker CLI checks its flag itself; a client that does not gets the engine's 400
    status, _, body = _build_request(api, {"Dockerfile": ("file", b"FROM busybox\n")},
                                     "extrahosts=first:not-an-ip&t=never:1")
    assert status == 400 and b"invalid IP address in add-host" in body
    assert api.docker("images", "-q", "never:1").stdout.strip() == b""


def _build_request(api, files: dict[str, tuple[str, bytes]], query: str):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, (kind, data) in files.items():
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = data.decode()
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return api.request("POST", f"/v1.41/build?{query}", body=buffer.getvalue(),
                       headers={"Content-Type": "application/x-tar"})


def test_a_dockerfile_outside_the_context_is_never_read(api):
    for query in ("dockerfile=../../../../etc/shadow", "dockerfile=/etc/shadow",
                  "dockerfile=link"):
        status, _, body = _build_request(api, {"link": ("symlink", b"/etc/shadow")}, query)
        assert status == 200
        messages = [json.loads(line) for line in body.splitlines()]
        assert "Cannot locate specified Dockerfile" in messages[-1]["error"] or \
            "failed to" in messages[-1]["error"]
        assert "root:" not in body.decode()   # no line of the host's file ever comes back


def test_sdk_images_build(api, tmp_path):
    client = api.client(version="auto")
    context = _context(tmp_path)
    image, logs = client.images.build(path=str(context), tag="sdk-built:2",
                                      buildargs={"GREETING": "hej"}, rm=True)
    assert "sdk-built:2" in image.tags
    assert any("aux" in chunk for chunk in logs)
    assert client.containers.run("sdk-built:2", remove=True) == b"hej from a build\n"
    import docker.errors
    broken = _context(tmp_path / "b", "FROM busybox\nRUN exit 9\n") \
        if (tmp_path / "b").mkdir() is None else None
    with pytest.raises(docker.errors.BuildError):
        client.images.build(path=str(broken))


def test_a_client_leaving_mid_build_stops_it(api, tmp_path):
    buffer = io.BytesIO()
    text = b"FROM busybox\nRUN echo started; sleep 30; echo never\n"
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(text)
        archive.addfile(info, io.BytesIO(text))
    body = buffer.getvalue()
    client = socket.socket(socket.AF_UNIX)
    client.connect(api.server_socket)
    client.sendall(b"POST /v1.41/build?t=abandoned:1 HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Type: application/x-tar\r\nContent-Length: %d\r\n\r\n" % len(body)
                   + body)
    client.settimeout(30)
    seen = b""
    while b"started" not in seen:
        chunk = client.recv(65536)
        assert chunk, seen
        seen += chunk
    client.close()
    # the RUN step's container is killed once the next progress write fails (at the latest
    # when the step ends): nothing is tagged, and the server answers at once
    started = time.monotonic()
    assert api.request("GET", "/_ping")[0] == 200
    assert time.monotonic() - started < 2
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if api.docker("images", "-q", "abandoned:1").stdout.strip() == b"":
            break
        time.sleep(0.5)
    time.sleep(35)   # past the step's end: still not tagged
    assert api.docker("images", "-q", "abandoned:1").stdout.strip() == b""
    assert not list((api.root / "tmp").glob("*/context-*")) if (api.root / "tmp").exists() \
        else True
