"""BuildRequest: the one typed request both fronts hand to the builder; what it refuses, it
refuses for both, with the same words."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pallet.base.errors import PalletError
from pallet.base.platforms import host_arch
from pallet.builder.request import BuildRequest, ContextSource

CONTEXT = ContextSource(directory=Path("."))


@pytest.mark.parametrize("fields, words", [
    ({"network": "bridge"}, "network mode 'bridge' not supported"),
    ({"compression": "lz4"}, "unsupported compression 'lz4'"),
    ({"allow": frozenset({"device"})}, "unknown entitlement device"),
    ({"platform": "linux/s390x" if host_arch() != "s390x" else "linux/amd64"},
     "would need CPU emulation"),
    ({"platform": "windows/amd64"}, "would need CPU emulation"),
])
def test_a_request_refuses_what_no_front_may_ask(fields, words):
    with pytest.raises(PalletError, match=words):
        BuildRequest(context=CONTEXT, **fields)


def test_a_request_is_frozen_and_keeps_its_secrets_out_of_repr():
    request = BuildRequest(context=CONTEXT, secrets={"token": b"s3cret"},
                           platform=f"linux/{host_arch()}", allow=frozenset({"network.host"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.tags = ("x",)
    assert "s3cret" not in repr(request)
