"""RUN steps in build containers: output, layers, mounts, secrets, failures, cache hits."""

from __future__ import annotations

from pathlib import Path

import pytest

from pallet.base.errors import PalletError
from tests.builder.conftest import build_image, flatten, image_config, read_file, write_tree

pytestmark = pytest.mark.root


def _mounts_under(path: Path) -> list[str]:
    """Mount points (in our mount namespace) that mention ``path``: other tests' mounts
    (a parallel dockerd, say) must not count."""
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if str(path) in line]


def test_run_makes_a_layer_and_a_cached_rebuild_starts_no_container(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nARG GREETING=hi\nRUN echo $GREETING > /greeting && "
                      "echo visible-output\nRUN mkdir -p /var/empty-step && rm -rf /var/empty-step\n"})
    result, log = build_image(busybox_root, context, tags=("run:1",))
    assert read_file(busybox_root, "run:1", "/greeting") == "hi\n"
    assert "visible-output" in log
    assert result.stats["containers"] == 2
    files = flatten(busybox_root, "run:1")
    base = flatten(busybox_root, "busybox")
    added = {path for path in files if path not in base}
    assert added == {"/greeting"}  # no /proc, /dev, /etc/hosts, mount points
    history = image_config(busybox_root, "run:1")["history"]
    assert history[-2]["created_by"] == ("RUN |1 GREETING=hi /bin/sh -c echo $GREETING > "
                                         "/greeting && echo visible-output # buildkit")
    again, log = build_image(busybox_root, context, tags=("run:1",))
    assert again.stats["containers"] == 0 and log.count("CACHED") == 2
    assert again.image_id == result.image_id


def test_build_arg_change_reruns_the_run_step(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nARG V=1\nRUN echo $V > /v\n"})
    build_image(busybox_root, context, tags=("a:1",))
    result, _ = build_image(busybox_root, context, tags=("a:2",), build_args={"V": "2"})
    assert result.stats["containers"] == 1
    assert read_file(busybox_root, "a:2", "/v") == "2\n"


def test_failed_run_reports_and_leaves_nothing(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN echo partial > /file\nRUN echo about to fail; exit 3\n"})
    with pytest.raises(PalletError) as caught:
        build_image(busybox_root, context, tags=("fail:1",))
    error = caught.value
    assert error.span.line == 3
    assert "exit code: 3" in error.message and "about to fail" in error.message
    assert _mounts_under(busybox_root) == [] and _mounts_under(tmp_path) == []
    from pallet.runtime.store.content import Store
    assert list(Store.open(busybox_root).tmp.iterdir()) == []  # this process's scratch: empty
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.store.content import Store
    with pytest.raises(PalletError):
        resolve_image(Store.open(busybox_root), "fail:1")


def test_cache_mount_persists_and_is_not_in_the_layer_or_key(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nARG RUNID\nRUN --mount=type=cache,target=/var/cache/app "
                      "echo $RUNID >> /var/cache/app/log && wc -l < /var/cache/app/log > /count\n"})
    build_image(busybox_root, context, tags=("c:1",), build_args={"RUNID": "one"})
    build_image(busybox_root, context, tags=("c:2",), build_args={"RUNID": "two"})
    assert read_file(busybox_root, "c:2", "/count").strip() == "2"
    assert "/var/cache/app/log" not in flatten(busybox_root, "c:2")


def test_secret_mount_is_readable_but_never_stored(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN --mount=type=secret,id=token "
                      "--mount=type=secret,id=token,env=TOKEN,target=/s2 "
                      "cat /run/secrets/token > /seen && echo ${#TOKEN} > /env-length\n"})
    build_image(busybox_root, context, tags=("s:1",), secrets={"token": b"s3cr3t"})
    assert read_file(busybox_root, "s:1", "/seen") == "s3cr3t"
    assert read_file(busybox_root, "s:1", "/env-length") == "6\n"
    files = flatten(busybox_root, "s:1")
    assert "/run/secrets/token" not in files and "/s2" not in files
    config = image_config(busybox_root, "s:1")
    assert "s3cr3t" not in str(config)
    with pytest.raises(PalletError, match="secret token not found"):
        write_tree(context, {"Dockerfile": "FROM busybox\n"
                                           "RUN --mount=type=secret,id=token,required true\n"})
        build_image(busybox_root, context, secrets={})


def test_bind_mounts_from_context_and_stage_and_tmpfs(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox AS tools\nRUN echo tool > /tool\n"
                      "FROM busybox\nRUN --mount=type=bind,source=src,target=/src "
                      "--mount=type=bind,from=tools,source=/tool,target=/t "
                      "--mount=type=tmpfs,target=/scratch "
                      "cat /src/input /t > /out && echo x > /scratch/junk\n",
        ".dockerignore": "src/ignored\n", "src/input": "in\n", "src/ignored": "no"})
    build_image(busybox_root, context, tags=("b:1",))
    assert read_file(busybox_root, "b:1", "/out") == "in\ntool\n"
    files = flatten(busybox_root, "b:1")
    assert not any(p.startswith(("/src", "/t", "/scratch")) for p in files if p not in
                   flatten(busybox_root, "busybox"))


def test_user_workdir_env_apply_to_run(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN echo app:x:1234:1234::/home/app:/bin/sh >> /etc/passwd\nUSER app\nWORKDIR /home/app/w\n"
                      "ENV WHO=me\nRUN id -u > uid && pwd > where && echo $WHO > who\n"})
    build_image(busybox_root, context, tags=("u:1",))
    assert read_file(busybox_root, "u:1", "/home/app/w/uid") == "1234\n"
    assert read_file(busybox_root, "u:1", "/home/app/w/where") == "/home/app/w\n"
    files = flatten(busybox_root, "u:1")
    assert files["/home/app/w"][2] == 1234  # WORKDIR created as the USER
    assert files["/home/app/w/who"][2] == 1234


def test_heredoc_runs_and_exec_form(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN <<EOF\necho one > /one\necho two > /two\nEOF\n"
                      "RUN [\"/bin/sh\", \"-c\", \"echo exec > /exec\"]\n"
                      "RUN cat <<EOF > /fed\nfed through stdin\nEOF\n"})
    build_image(busybox_root, context, tags=("h:1",))
    assert read_file(busybox_root, "h:1", "/two") == "two\n"
    assert read_file(busybox_root, "h:1", "/exec") == "exec\n"
    assert read_file(busybox_root, "h:1", "/fed") == "fed through stdin\n"


def test_network_none_has_only_loopback(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN --network=none ls /sys/class/net > /ifaces\n"})
    build_image(busybox_root, context, tags=("n:1",))
    assert read_file(busybox_root, "n:1", "/ifaces").split() == ["lo"]


def test_onbuild_triggers_run_in_the_child_build(busybox_root, tmp_path):
    parent = write_tree(tmp_path / "parent", {
        "Dockerfile": "FROM busybox\nONBUILD RUN echo triggered > /trig\n"})
    build_image(busybox_root, parent, tags=("parent:1",))
    assert image_config(busybox_root, "parent:1")["config"]["OnBuild"] == [
        "RUN echo triggered > /trig"]
    child = write_tree(tmp_path / "child", {"Dockerfile": "FROM parent:1\nRUN cat /trig > /c\n"})
    build_image(busybox_root, child, tags=("child:1",))
    assert read_file(busybox_root, "child:1", "/c") == "triggered\n"
    assert not image_config(busybox_root, "child:1")["config"].get("OnBuild")


def test_independent_stages_both_run_and_feed_the_last(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox AS a\nRUN sleep 0.3; echo a > /a\n"
                      "FROM busybox AS b\nRUN sleep 0.3; echo b > /b\n"
                      "FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n"})
    result, _ = build_image(busybox_root, context, tags=("p:1",))
    assert read_file(busybox_root, "p:1", "/a") == "a\n" and read_file(busybox_root, "p:1", "/b") == "b\n"
    assert result.stats["containers"] == 2



def test_independent_stages_run_at_the_same_time(busybox_root, tmp_path):
    # Each stage's RUN leaves a mark in a shared cache mount and waits (10 s at most) for the
    # other's: run one after the other, the first would give up and fail the build.
    wait = ("RUN --mount=type=cache,id=meet,target=/meet touch /meet/{me}; i=0; "
            "while [ ! -e /meet/{other} ]; do sleep 0.05; i=$((i+1)); [ $i -lt 200 ] || exit 9; "
            "done; echo {me} > /{me}\n")
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox AS a\n" + wait.format(me="a", other="b")
                      + "FROM busybox AS b\n" + wait.format(me="b", other="a")
                      + "FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n"})
    build_image(busybox_root, context, tags=("meet:1",))
    assert read_file(busybox_root, "meet:1", "/a") == "a\n"
    assert read_file(busybox_root, "meet:1", "/b") == "b\n"

def test_bind_mount_content_is_an_input_but_secrets_and_cache_mounts_are_not(busybox_root,
                                                                              tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN --mount=type=bind,source=conf,target=/conf "
                      "--mount=type=secret,id=tok --mount=type=cache,target=/c "
                      "cat /conf/settings > /settings && date >> /c/log\n",
        "conf/settings": "v1\n", "unrelated": "x"})
    build_image(busybox_root, context, tags=("k:1",), secrets={"tok": b"one"})
    result, _ = build_image(busybox_root, context, tags=("k:1",), secrets={"tok": b"two"})
    assert result.stats["containers"] == 0  # another secret value, more cache content: a hit
    (context / "unrelated").write_text("changed")
    result, _ = build_image(busybox_root, context, tags=("k:1",), secrets={"tok": b"two"})
    assert result.stats["containers"] == 0  # a file the mount does not show: still a hit
    (context / "conf" / "settings").write_text("v2\n")
    result, _ = build_image(busybox_root, context, tags=("k:2",), secrets={"tok": b"two"})
    assert result.stats["containers"] == 1
    assert read_file(busybox_root, "k:2", "/settings") == "v2\n"


def test_copy_from_a_rebuilt_stage_with_the_same_output_is_a_hit(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox AS gen\nCOPY input /input\nRUN cut -c1-3 /input > /out\n"
                      "FROM busybox\nCOPY --from=gen /out /out\nRUN cat /out > /final\n",
        "input": "abcdef\n"})
    build_image(busybox_root, context, tags=("cf:1",))
    (context / "input").write_text("abcxyz\n")  # the stage reruns, its /out is the same
    result, log = build_image(busybox_root, context, tags=("cf:1",))
    assert result.stats["containers"] == 1  # only the stage's RUN; the final RUN is cached
    assert read_file(busybox_root, "cf:1", "/final") == "abc\n"


def test_a_run_that_changes_nothing_records_history_but_no_layer(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN true\nWORKDIR /\nWORKDIR /etc\nRUN echo x > /x\n"})
    build_image(busybox_root, context, tags=("empty:1",))
    config = image_config(busybox_root, "empty:1")
    base = image_config(busybox_root, "busybox")
    ours = config["history"][len(base["history"]):]
    assert [(h["created_by"], h.get("empty_layer", False)) for h in ours] == [
        ("RUN /bin/sh -c true # buildkit", True), ("WORKDIR /", True), ("WORKDIR /etc", True),
        ("RUN /bin/sh -c echo x > /x # buildkit", False)]
    assert len(config["rootfs"]["diff_ids"]) == len(base["rootfs"]["diff_ids"]) + 1


def test_a_run_steps_overlay_is_volatile_and_a_containers_is_not(busybox_root, tmp_path):
    """A build step's upper dir becomes a layer blob (synced) as soon as the step ends, so its
    overlay skips the sync of the whole upper filesystem at unmount ("volatile"); a container
    of `run`, whose writable layer outlives it, keeps the sync."""
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.image.layers import layer_dirs
    from pallet.runtime.isolation.core import ContainerSpec, run_container
    from pallet.runtime.store.content import Store

    script = "grep ' / / ' /proc/self/mountinfo"
    volatile = {"volatile", "fsync=volatile"}    # newer kernels show the second
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": f"FROM busybox\nRUN {script} > /root-mount\n"})
    build_image(busybox_root, context, tags=("vol:1",))
    build_root = read_file(busybox_root, "vol:1", "/root-mount")
    assert " - overlay overlay " in build_root
    assert volatile & set(build_root.split()[-1].split(","))

    store = Store.open(busybox_root)
    (tmp_path / "upper").mkdir()
    (tmp_path / "work").mkdir()
    out: list[bytes] = []
    status = run_container(ContainerSpec(
        rootfs_lowerdirs=tuple(layer_dirs(store, resolve_image(store, "busybox"))),
        upper_dir=tmp_path / "upper", work_dir=tmp_path / "work", argv=("/bin/sh", "-c", script)),
        stdout=out.append)
    run_root = b"".join(out).decode()
    assert status.code == 0 and " - overlay overlay " in run_root
    assert not volatile & set(run_root.split()[-1].split(","))
