"""The samples build as their READMEs say (the slow Debian one is only planned here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pallet.builder.plan import BaseImage, plan
from pallet.grammar import parse
from tests.builder.conftest import build_image, flatten, image_config, read_file

pytestmark = pytest.mark.root
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_static_site_sample(busybox_root):
    result, _ = build_image(busybox_root, SAMPLES / "static-site", tags=("site:1",),
                            build_args={"SITE_VERSION": "2.0"})
    assert "version 2.0" in read_file(busybox_root, "site:1", "/www/index.html")
    files = flatten(busybox_root, "site:1")
    assert files["/www/index.html"][2:4] == (101, 101)
    config = image_config(busybox_root, "site:1")["config"]
    assert config["Cmd"][0] == "httpd" and config["User"] == "www"
    assert config["Healthcheck"]["Test"][0] == "CMD-SHELL"
    again, log = build_image(busybox_root, SAMPLES / "static-site", tags=("site:1",),
                             build_args={"SITE_VERSION": "2.0"})
    assert again.image_id == result.image_id and again.stats["executed"] == 0


def test_cache_secrets_sample(busybox_root, tmp_path):
    context = tmp_path / "sample"
    shutil.copytree(SAMPLES / "build-cache-secrets", context)
    secrets = {"api_token": b"s3cr3t-token"}
    _, log = build_image(busybox_root, context, tags=("cs:1",), secrets=secrets)
    assert "fetching: zlib" in log
    with open(context / "app" / "deps.txt", "a") as handle:
        handle.write("pcre\n")
    _, log = build_image(busybox_root, context, tags=("cs:1",), secrets=secrets)
    assert "cached: zlib" in log and "fetching: pcre" in log
    assert read_file(busybox_root, "cs:1", "/app/token-check") == "token length: 12\n"
    assert "s3cr3t" not in str(image_config(busybox_root, "cs:1"))


def test_multistage_c_sample_plans_a_two_stage_build():
    text = (SAMPLES / "multistage-c" / "Dockerfile").read_text()
    seen = []

    def resolve(ref, span):
        seen.append(ref)
        return BaseImage(id="sha256:" + "0" * 64, config={"config": {"Env": ["PATH=/bin"]}})

    built = plan(parse(text, "Dockerfile"), build_args={}, target=None, resolve_base=resolve)
    assert seen == ["debian-gcc:12", "busybox:latest"]
    final = built.stages[-1].steps
    assert final[1].copy.from_stage == 0 and final[-1].config["Entrypoint"] == [
        "/usr/local/bin/hello"]
