"""The Docker SDK for Python against `pallet serve`: containers.run (attached and detached),
logs streaming, exec_run, put_archive/get_archive, wait, and the low-level APIClient."""

from __future__ import annotations

import io
import tarfile

import pytest

pytestmark = [pytest.mark.server, pytest.mark.root]


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_containers_run_attached_returns_the_output(api):
    client = api.client(version="auto")
    assert client.containers.run("busybox", ["echo", "from the sdk"], remove=True) == \
        b"from the sdk\n"
    import docker.errors
    with pytest.raises(docker.errors.ContainerError) as failure:
        client.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 2"], remove=True)
    assert failure.value.exit_status == 2
    assert b"oops" in failure.value.stderr


def test_detached_run_logs_exec_and_archives(api):
    client = api.client(version="auto")
    container = client.containers.run(
        "busybox", ["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.1; done; sleep 300"],
        detach=True, name="sdk-box", labels={"origin": "sdk"})
    assert container.status in ("created", "running")
    stream = container.logs(stream=True, follow=True)
    assert [next(stream) for _ in range(3)] == [b"line 1\n", b"line 2\n", b"line 3\n"]
    stream.close()
    code, output = container.exec_run(["sh", "-c", "echo $((3*4)); exit 3"])
    assert (code, output) == (3, b"12\n")
    code, (out, err) = container.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
    assert (code, out, err) == (0, b"o\n", b"e\n")
    assert container.put_archive("/tmp", _tar({"hello.txt": b"put by the sdk\n"})) is True
    assert container.exec_run(["cat", "/tmp/hello.txt"]).output == b"put by the sdk\n"
    chunks, stat = container.get_archive("/tmp/hello.txt")
    assert stat["name"] == "hello.txt" and stat["size"] == len(b"put by the sdk\n")
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
        assert archive.extractfile("hello.txt").read() == b"put by the sdk\n"
    listed = client.containers.list(filters={"label": "origin=sdk"})
    assert [c.name for c in listed] == ["sdk-box"]
    container.kill()
    assert container.wait()["StatusCode"] == 137
    container.remove()
    assert client.containers.list(all=True) == []


def test_low_level_api_client(api):
    import docker
    low = docker.APIClient(base_url=api.host, version="1.41")
    created = low.create_container("busybox", ["sh", "-c", "echo low-level; exit 6"],
                                   host_config=low.create_host_config(auto_remove=False))
    low.start(created["Id"])
    assert low.wait(created["Id"])["StatusCode"] == 6
    assert low.logs(created["Id"]) == b"low-level\n"
    assert low.inspect_container(created["Id"])["State"]["ExitCode"] == 6
    assert [c["Id"] for c in low.containers(all=True)] == [created["Id"]]
    low.remove_container(created["Id"])
    assert low.containers(all=True) == []
