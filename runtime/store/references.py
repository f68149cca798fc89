"""Image references, normalised exactly as Docker does (github.com/distribution/reference).

    parse_reference(text: str) -> Reference          # "busybox" -> docker.io/library/busybox (no tag)
    parse_reference(text).with_default_tag() -> Reference   # adds ":latest" when neither tag nor digest
    normalize(text: str) -> str                      # "busybox" -> "docker.io/library/busybox:latest"
    familiar(name: str) -> str                       # "docker.io/library/busybox" -> "busybox"
    is_full_id(text) / looks_like_id_prefix(text)

Errors carry Docker's text, e.g. "invalid reference format: repository name must be lowercase".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pallet.base.errors import PalletError

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_ANCHORED_ID = re.compile(r"^[a-f0-9]{64}$")
_SHORT_ID = re.compile(r"^(?:sha256:)?[a-f0-9]{1,64}$")


@dataclass(frozen=True)
class Reference:
    """A normalised reference: domain + path, optional tag, optional digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The full repository name, e.g. docker.io/library/busybox."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        return familiar(self.name)

    def with_default_tag(self) -> "Reference":
        if self.tag is None and self.digest is None:
            return replace(self, tag="latest")
        return self

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text

    def familiar(self) -> str:
        text = self.familiar_name
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text


def _invalid(text: str, why: str = "") -> PalletError:
    message = "invalid reference format" + (f": {why}" if why else "")
    return PalletError(message, hint=f"{text!r} is not a valid image reference "
                       "(expected [registry/]name[:tag][@digest], lower-case repository name)")


def _split_domain(name: str) -> tuple[str, str]:
    # splitDockerDomain: the first component is a registry only if it looks like a host.
    slash = name.find("/")
    first = name[:slash]
    if slash == -1 or (not any(c in first for c in ".:") and first != "localhost"
                       and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[slash + 1:]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse_reference(text: str) -> Reference:
    """ParseNormalizedNamed: parse a user-typed reference into its normalised form."""
    if not isinstance(text, str) or not text:
        raise _invalid(str(text))
    if _ANCHORED_ID.match(text):
        raise PalletError(f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_domain(text)
    path_only = remainder.split(":", 1)[0]
    if path_only.lower() != path_only:
        raise _invalid(text, "repository name must be lowercase")
    match = _REFERENCE.match(f"{domain}/{remainder}")
    if not match:
        raise _invalid(text)
    name, tag, digest = match.groups()
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise _invalid(text, f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    if digest is not None and not re.match(r"^sha256:[0-9a-f]{64}$", digest):
        raise PalletError(f"invalid reference format: unsupported digest {digest}",
                          hint="digests are sha256: followed by 64 lower-case hex digits")
    return Reference(domain=domain, path=name[len(domain) + 1:], tag=tag, digest=digest)


def normalize(text: str) -> str:
    """A reference with the default tag, in full form: busybox -> docker.io/library/busybox:latest."""
    return str(parse_reference(text).with_default_tag())


def familiar(name: str) -> str:
    """FamiliarName: strip docker.io/ and library/ the way the docker CLI shows names."""
    if name.startswith(DEFAULT_DOMAIN + "/"):
        rest = name[len(DEFAULT_DOMAIN) + 1:]
        if rest.startswith(OFFICIAL_REPO_PREFIX) and rest.count("/") == 1:
            rest = rest[len(OFFICIAL_REPO_PREFIX):]
        return rest
    return name


def familiar_string(reference: str) -> str:
    """Familiar form of a full reference string (name[:tag][@digest])."""
    return parse_reference(reference).familiar()


def is_full_id(text: str) -> bool:
    return bool(re.match(r"^(?:sha256:)?[a-f0-9]{64}$", text))


def looks_like_id_prefix(text: str) -> bool:
    return bool(_SHORT_ID.match(text))


def engine_spelling(text: str) -> str:
    """How the engine names a reference it did not find (moby's ErrImageDoesNotExist: a full
    ID as a sha256 digest, anything else parsed as a name, familiar, with the default tag
    when it has neither tag nor digest): `nosuch` -> `nosuch:latest`, `abc123` ->
    `abc123:latest`, `0123...ef` -> `sha256:0123...ef`."""
    if is_full_id(text):
        return text if text.startswith("sha256:") else f"sha256:{text}"
    try:
        return familiar_string(str(parse_reference(text).with_default_tag()))
    except PalletError:
        return text
