"""Image configs are data from whoever built the image: what Docker's daemon accepts from one
works, and what it refuses (or cannot act on) is a clear error with nothing made, never an
internal error."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.images import busybox_rootfs_tarball
from tests.runtime.image.test_archive_bad_input import make_tar, member

pytestmark = pytest.mark.root


def _load(root, tag: str, config: dict) -> None:
    layer = busybox_rootfs_tarball().read_bytes()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    document = json.dumps({"architecture": "amd64", "os": "linux", "config": config,
                           "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": [tag],
                            "Layers": ["layer/layer.tar"]}]).encode()
    archive = make_tar([member("config.json", document), member("layer/layer.tar", layer),
                        member("manifest.json", manifest)])
    loaded = pallet(root, "load", input=archive)
    assert loaded.returncode == 0, loaded.stderr


def test_a_relative_image_volume_is_a_clear_error_with_no_volume_made(pallet_root):
    # was an internal ValueError, after an anonymous volume had been created
    _load(pallet_root, "relvol:1", {"Volumes": {"../../etc": {}}, "Cmd": ["true"]})
    ran = pallet(pallet_root, "run", "--rm", "--network", "none", "relvol:1")
    assert ran.returncode == 125
    assert "invalid mount path in the image's Volumes: '../../etc'" in ran.stderr.decode()
    assert out(pallet(pallet_root, "volume", "ls", "-q")) == ""
    assert out(pallet(pallet_root, "ps", "-aq")) == ""


def test_publishing_a_malformed_exposed_port_of_an_image_is_a_clear_error(pallet_root):
    _load(pallet_root, "ports:1", {"ExposedPorts": {"a/b/c": {}}, "Cmd": ["true"]})
    ran = pallet(pallet_root, "run", "--rm", "-P", "ports:1")
    assert ran.returncode == 125, ran.stderr
    assert 'invalid port specification: "a"' in ran.stderr.decode()
    assert out(pallet(pallet_root, "ps", "-aq")) == ""
    plain = pallet(pallet_root, "run", "--rm", "--network", "none", "ports:1")
    assert plain.returncode == 0, plain.stderr      # unpublished, as Docker, it does not matter


def test_an_unknown_stop_signal_of_an_image_falls_back_to_sigterm(pallet_root):
    # Docker's Container.StopSignal() falls back to SIGTERM; pallet refused to stop it at all.
    _load(pallet_root, "sig:1", {"StopSignal": "SIGNOPE",
                                 "Cmd": ["sh", "-c", "trap 'exit 7' TERM; sleep 60 & wait"]})
    started = pallet(pallet_root, "run", "-d", "--network", "none", "--name", "sig", "sig:1")
    assert started.returncode == 0, started.stderr
    stopped = pallet(pallet_root, "stop", "sig")
    assert stopped.returncode == 0, stopped.stderr
    state = json.loads(out(pallet(pallet_root, "inspect", "sig")))[0]["State"]
    assert not state["Running"] and state["ExitCode"] == 7     # SIGTERM reached its handler
    pallet(pallet_root, "rm", "-f", "sig")


@pytest.mark.parametrize("user", ["99999999999", "0:99999999999"])
def test_an_id_past_runcs_range_is_runcs_error(pallet_root, user):
    _load(pallet_root, "user:1", {"User": user, "Cmd": ["id"]})
    ran = pallet(pallet_root, "run", "--rm", "--network", "none", "user:1")
    assert ran.returncode == 125
    assert "uids and gids must be in range 0-2147483647" in ran.stderr.decode()
