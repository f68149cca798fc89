"""Hostile build files and contexts, tried as an attacker would: each must end in a clear error
or Docker's result, quickly, with nothing written outside the image being built."""

from __future__ import annotations

import os
import re

import pytest

from pallet.base.errors import PalletError

from tests.builder.conftest import build_image, flatten, write_tree

pytestmark = pytest.mark.root

STALLING = "*a*a*a*a*a*a*a*a*a*a*a*a*"  # 12 stars: ~n^12 steps for a backtracking regex


@pytest.mark.timeout(120)
def test_copy_from_a_stage_with_a_stalling_wildcard_finishes(busybox_root, tmp_path):
    # COPY --from sources are matched against the stage's names (trees_from_view): the old
    # per-component regex ran for hours on one 250-character name.
    long_a, long_b = "a" * 250, "a" * 249 + "b"
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": f"FROM busybox AS src\nCOPY data/ /data/\n"
                      f"FROM busybox\nCOPY --from=src /data/{STALLING}b /out/\n",
        f"data/{long_a}": "no", f"data/{long_b}": "yes"})
    build_image(busybox_root, context, tags=("wild:1",))
    files = flatten(busybox_root, "wild:1")
    assert f"/out/{long_b}" in files and f"/out/{long_a}" not in files


def test_a_build_file_symlinked_to_a_host_file_is_never_read(busybox_root, tmp_path):
    # A cloned repository whose Dockerfile is a link to /etc/shadow: the old code parsed the
    # host file and printed its first line in the error ("unknown instruction: root:$6$...").
    # It is resolved inside the context now, where there is no such file.
    secret = tmp_path / "host-secret"
    secret.write_text("TOPSECRET-LINE\n")
    context = write_tree(tmp_path / "ctx", {"a": "a"})
    os.symlink(str(secret), context / "Dockerfile")
    with pytest.raises(PalletError) as caught:
        build_image(busybox_root, context)
    assert "TOPSECRET" not in str(caught.value)
    assert "Dockerfile" in caught.value.message
    # the same name inside the context is what a link to it means
    (context / str(secret).lstrip("/")).parent.mkdir(parents=True)
    (context / str(secret).lstrip("/")).write_text("FROM busybox\nCOPY a /a\n")
    build_image(busybox_root, context, tags=("linked:1",))
    assert "/a" in flatten(busybox_root, "linked:1")


def test_a_dockerignore_symlinked_to_a_host_file_is_never_read(busybox_root, tmp_path):
    host_rules = tmp_path / "host-rules"
    host_rules.write_text("*\n")   # read from the host, it would exclude everything
    context = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY a /a\n", "a": "a"})
    os.symlink(str(host_rules), context / ".dockerignore")
    build_image(busybox_root, context, tags=("ignored:1",))
    assert "/a" in flatten(busybox_root, "ignored:1")


@pytest.mark.timeout(60)
def test_a_fifo_for_a_dockerignore_is_refused_not_waited_on(busybox_root, tmp_path):
    # A tar context can carry a FIFO: opening it for reading blocked the build for ever.
    context = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY a /a\n", "a": "a"})
    os.mkfifo(context / ".dockerignore")
    with pytest.raises(PalletError, match=r"\.dockerignore in the build context is not a "
                                          r"regular file"):
        build_image(busybox_root, context)


def test_copy_through_a_context_directory_linked_to_etc_reads_the_contexts_etc(busybox_root,
                                                                              tmp_path):
    # Docker follows links inside the context (scoped resolution); the old code refused them,
    # and its wildcard listing walked the host's /etc to find names.
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY subdir/pass* /wild/\nCOPY subdir/passwd /one\n",
        "etc/passwd": "the context's passwd\n"})
    os.symlink("/etc", context / "subdir")
    build_image(busybox_root, context, tags=("scoped:1",))
    files = flatten(busybox_root, "scoped:1")
    assert set(p for p in files if p.startswith("/wild/")) == {"/wild/passwd"}
    assert files["/one"][4] == files["/wild/passwd"][4]   # the same content: the context's
    missing = write_tree(tmp_path / "ctx2", {"Dockerfile": "FROM busybox\nCOPY subdir/shadow /x\n"})
    os.symlink("/etc", missing / "subdir")
    with pytest.raises(PalletError, match="file not found in build context"):
        build_image(busybox_root, missing)


@pytest.mark.parametrize(("flag", "message"), [
    ("--chown=99999999999:1", "unable to find user 99999999999"),
    ("--chown=1:99999999999", "unable to find group 99999999999"),
    ("--chown=\u0661\u0662", "unable to find user \u0661\u0662"),   # not ASCII digits: a name
])
def test_chown_ids_past_32_bits_are_names_as_in_buildkit(busybox_root, tmp_path, flag, message):
    # BuildKit reads a --chown id with strconv.ParseUint(s, 10, 32); anything else is a name.
    # The old code passed 99999999999 to chown (internal OverflowError) and took Arabic-Indic
    # digits as uid 12.
    context = write_tree(tmp_path / "ctx", {"Dockerfile": f"FROM busybox\nCOPY {flag} a /a\n",
                                            "a": "a"})
    with pytest.raises(PalletError, match=message):
        build_image(busybox_root, context)


@pytest.mark.parametrize("option", ["uid=99999999999", "gid=\u0661\u0662", "mode=+7",
                                    "mode=77777777777"])
def test_mount_ids_and_modes_are_32_bit_numbers(busybox_root, tmp_path, option):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": f"FROM busybox\nRUN --mount=type=cache,target=/c,{option} true\n"})
    with pytest.raises(PalletError, match=re.escape(f"invalid value {option.split('=')[1]} for")):
        build_image(busybox_root, context, network="none")


def test_an_expanded_mount_uid_past_32_bits_is_a_clear_error(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nARG U=99999999999\n"
                      "RUN --mount=type=cache,target=/c,uid=$U true\n"})
    with pytest.raises(PalletError, match="invalid number '99999999999' in --mount"):
        build_image(busybox_root, context, network="none")


def test_add_of_a_url_whose_body_is_cut_short_is_a_clear_error(busybox_root, tmp_path):
    # http.client's IncompleteRead is no OSError: the old code let it out as an internal error.
    from tests.fakeregistry import fake_registry

    def cut(handler, status, headers):
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        handler.wfile.write(b"only this much")
        handler.close_connection = True

    with fake_registry() as server:
        server.route("GET", "/file", cut)
        context = write_tree(tmp_path / "ctx", {
            "Dockerfile": f"FROM busybox\nADD http://{server.host}/file /f\n"})
        with pytest.raises(PalletError, match="download failed: IncompleteRead"):
            build_image(busybox_root, context)
