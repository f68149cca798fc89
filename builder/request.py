"""What a build is asked to do: one frozen request that both fronts make (the CLI from its flags,
the Engine API server from POST /build's query) and hand to pallet.builder.build.build.

    BuildRequest(context=ContextSource(directory=Path) | ContextSource(stream=BinaryIO), ...)

The checks every front needs are made here, when the request is made, so both refuse the same
things with the same words: the network mode, the compression, the entitlements, the platform
(RUN steps run natively: no CPU emulation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Mapping

from pallet.base.errors import PalletError

ENTITLEMENTS = ("network.host", "security.insecure")
NETWORKS = ("default", "none", "host")
COMPRESSIONS = ("none", "gzip", "zstd")


@dataclass(frozen=True)
class ContextSource:
    """Where the context comes from: a directory, or a stream (a tar, or a bare build file)."""

    directory: Path | None = None
    stream: BinaryIO | None = None
    # a stream's tar updates the context tree kept under this name from an earlier build
    # (builder/keptcontext.py): the Engine API's, whose clients send the whole context each time
    keep: str | None = None


@dataclass(frozen=True)
class BuildRequest:
    """Everything a build is asked for, from the CLI's flags or POST /build."""

    context: ContextSource
    dockerfile: str | None = None           # a path (in the context or not); "-": dockerfile_text
    # the dockerfile is a path inside the context, never the host's (the Engine API's clients
    # send it in the context's tar): resolved confined to the context, symlinks included
    dockerfile_in_context: bool = False
    dockerfile_text: str | bytes | None = None
    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    no_cache: bool = False
    no_cache_filter: tuple[str, ...] = ()    # stage names or indexes
    pull: bool = False                       # pull every base image before using it
    secrets: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    network: str = "default"                 # RUN's network: default, none, host
    platform: str | None = None              # linux/<this machine's arch> only
    source_date_epoch: int | None = None
    memory: int | None = None                # bytes, for each RUN step
    cpus: float | None = None
    cache_from: tuple[str, ...] = ()         # type=local,src=DIR / type=registry,ref=REF
    cache_to: tuple[str, ...] = ()           # type=local,dest=DIR / type=registry,ref=REF[,mode=]
    compression: str = "none"                # of the layer blobs in the local store
    allow: frozenset[str] = frozenset()      # entitlements granted (--allow)
    add_hosts: tuple[str, ...] = ()          # NAME:IP (or NAME:host-gateway) for RUN's /etc/hosts

    def __post_init__(self) -> None:
        if self.network not in NETWORKS:
            raise PalletError(f"network mode {self.network!r} not supported by buildkit",
                              hint=f"use one of {', '.join(NETWORKS)}")
        if self.compression not in COMPRESSIONS:
            raise PalletError(f"unsupported compression {self.compression!r}",
                              hint=f"use one of {', '.join(COMPRESSIONS)}")
        for name in self.allow:
            if name not in ENTITLEMENTS:
                raise PalletError(f"invalid value {name!r} for --allow: unknown entitlement {name}",
                                  hint=f"pallet knows {', '.join(ENTITLEMENTS)}")
        if self.platform is not None:
            from pallet.base.platforms import host_platform, parse_platform
            try:
                wanted = parse_platform(self.platform)
            except ValueError as error:
                raise PalletError(f"invalid --platform: {error}") from error
            host = host_platform()
            if (wanted.os, wanted.architecture) != (host.os, host.architecture):
                raise PalletError(f"cannot build for {self.platform}: RUN steps would need CPU "
                                  "emulation, which pallet does not do",
                                  hint=f"this machine builds {host}")
            object.__setattr__(self, "platform", str(wanted))   # normalised: linux/amd64
