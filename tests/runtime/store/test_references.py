"""Docker reference normalisation (github.com/distribution/reference)."""

from __future__ import annotations

import pytest

from pallet.base.errors import PalletError
from pallet.runtime.store.references import familiar, normalize, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, full", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
    ("team/app", "docker.io/team/app:latest"),
    ("localhost:5000/team/app:1.2", "localhost:5000/team/app:1.2"),
    ("localhost/app", "localhost/app:latest"),
    ("registry.example.com/a/b/c:v1", "registry.example.com/a/b/c:v1"),
    ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest"),
    (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
    (f"busybox:1@{DIGEST}", f"docker.io/library/busybox:1@{DIGEST}"),
    ("a_b.c-d__e", "docker.io/library/a_b.c-d__e:latest"),
])
def test_normalisation_matches_docker(text, full):
    assert normalize(text) == full


@pytest.mark.parametrize("full, short", [
    ("docker.io/library/busybox", "busybox"),
    ("docker.io/team/app", "team/app"),
    ("localhost:5000/team/app", "localhost:5000/team/app"),
])
def test_familiar_names(full, short):
    assert familiar(full) == short


def test_upper_case_repository_gives_dockers_error():
    with pytest.raises(PalletError) as caught:
        parse_reference("Busybox:latest")
    assert caught.value.message == "invalid reference format: repository name must be lowercase"


@pytest.mark.parametrize("text", ["", "a:b:c", "busybox:-x", "-busybox", "busybox::1", "a//b",
                                  "busybox@sha256:abc", "UPPER/path/Part"])
def test_invalid_references_give_invalid_reference_format(text):
    with pytest.raises(PalletError, match="invalid reference format"):
        parse_reference(text)


def test_64_hex_name_is_refused_like_docker():
    with pytest.raises(PalletError, match="cannot specify 64-byte hexadecimal strings"):
        parse_reference("a" * 64)


def test_name_longer_than_255_is_refused():
    with pytest.raises(PalletError, match="must not be more than 255 characters"):
        parse_reference("a" * 250 + "/" + "b" * 10)


def test_tag_and_digest_parts():
    reference = parse_reference(f"localhost:5000/x:1@{DIGEST}")
    assert (reference.domain, reference.path, reference.tag, reference.digest) == \
        ("localhost:5000", "x", "1", DIGEST)
