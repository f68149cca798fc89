"""The issue's bad-input list for containers: Docker's message, exit code, nothing half-created."""

from __future__ import annotations

import pytest

from tests.cli.ctr_helpers import out, pallet

pytestmark = pytest.mark.root


@pytest.mark.parametrize("args, code, message", [
    (("run", "nosuch:latest", "true"), 125, "Unable to find image 'nosuch:latest' locally"),
    (("run", "-m", "lots", "busybox", "true"), 125, "invalid size: 'lots'"),
    (("run", "-m", "1m", "busybox", "true"), 125, "Minimum memory limit allowed is 6MB"),
    (("run", "--memory-swap", "1g", "busybox", "true"), 125, "set the Memory limit when using Memoryswap"),
    (("run", "--cpus", "many", "busybox", "true"), 125, "failed to parse many as a rational number"),
    (("run", "--restart", "sometimes", "busybox", "true"), 125, "invalid restart policy 'sometimes'"),
    (("run", "--rm", "--restart", "always", "busybox", "true"), 125, "conflicting options: cannot specify both --restart and --rm"),
    (("run", "--mount", "type=bind,src=/no/such/pallet-test-dir,dst=/x", "busybox", "true"), 125,
     "bind source path does not exist: /no/such/pallet-test-dir"),
    (("run", "--mount", "type=nfs,target=/x", "busybox", "true"), 125, 'invalid mount config for type "nfs": mount type unknown'),
    (("run", "-v", "a/../../escape:/x", "busybox", "true"), 125, "includes invalid characters for a local volume name"),
    (("run", "--mount", "type=volume,source=../up,target=/x", "busybox", "true"), 125, "invalid characters"),
    (("run", "--ulimit", "nofile=abc", "busybox", "true"), 125, 'strconv.ParseInt: parsing "abc": invalid syntax'),
    (("run", "--name", "bad name!", "busybox", "true"), 125, "Invalid container name (bad name!)"),
    (("run", "--entrypoint", "", "busybox"), 125, "No command specified"),
    (("run", "--security-opt", "seccomp=foo", "busybox", "true"), 125,
     "opening seccomp profile (foo) failed: open foo: no such file or directory"),
    (("run", "--security-opt", "seccomp", "busybox", "true"), 125, 'Invalid --security-opt: "seccomp"'),
    (("run", "--security-opt", "bogus=1", "busybox", "true"), 125, 'invalid --security-opt 2: "bogus=1"'),
    (("run", "--add-host", "nocolon", "busybox", "true"), 125, "bad format for add-host"),
    (("run", "--stop-signal", "SIGNOPE", "busybox", "true"), 125, "Invalid signal: SIGNOPE"),
    (("rm", "ghost"), 1, "No such container: ghost"),
    (("stop", "ghost"), 1, "No such container: ghost"),
    (("logs", "ghost"), 1, "No such container: ghost"),
    (("kill", "-s", "NOPE", "ghost"), 1, "Invalid signal: NOPE"),
    (("exec", "ghost", "true"), 1, "No such container: ghost"),
])
def test_bad_input_is_one_clear_error_and_nothing_is_created(root, args, code, message):
    result = pallet(root, *args)
    err = result.stderr.decode()
    assert result.returncode == code, err
    assert message in err
    assert "Traceback" not in err
    assert out(pallet(root, "ps", "-a", "-q")) == ""
    assert not [p for p in (root / "containers").glob("*") if p.name != ".lock"] \
        if (root / "containers").exists() else True


def test_rm_of_a_running_container_needs_force(root):
    cid = out(pallet(root, "run", "-d", "busybox", "sleep", "300")).strip()
    refused = pallet(root, "rm", cid)
    assert refused.returncode == 1
    assert (f"You cannot remove a running container {cid}. Stop the container before attempting "
            "removal or force remove") in refused.stderr.decode()
    assert pallet(root, "rm", "-f", cid).returncode == 0


def test_log_rotation_keeps_bounded_files(tmp_path):
    import json

    from pallet.runtime.container.logs import LogWriter, log_files, read_entries

    path = tmp_path / "c-json.log"
    writer = LogWriter(path, max_size=2000, max_files=3)
    for index in range(400):
        writer.write("stdout", f"line {index}\n".encode())
    writer.write("stderr", b"partial")
    writer.close()
    files = log_files(path)
    assert len(files) == 3 and all(f.stat().st_size < 2200 for f in files)
    entries = list(read_entries(path))
    assert entries[-1] == {"log": "partial", "stream": "stderr", "time": entries[-1]["time"]}
    numbers = [int(e["log"].split()[1]) for e in entries[:-1]]
    assert numbers == list(range(numbers[0], 400))  # the newest lines, in order
    assert json.loads(path.read_text().splitlines()[0])["stream"] in ("stdout", "stderr")
