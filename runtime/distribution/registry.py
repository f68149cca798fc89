"""An OCI Distribution client: manifests and blobs over HTTP(S), anonymous token auth.

    RegistryClient(domain, repository, *, push=False, credentials=None)   (None: the stored login)
        .get_manifest(reference) -> Manifest     tag or digest; verified when fetched by digest
        .open_blob(digest) -> BlobStream         (follows redirects to blob storage; a stalled
                                                  or cut transfer raises RegistryError)
        .open_manifest(digest) -> BlobStream
        .has_blob(digest) -> bool
        .upload_blob(stream, digest, size)       monolithic: POST then PUT ?digest=
        .upload_stream(chunks) -> location       POST, then one chunked PATCH of an iterable;
        .finish_upload(location, digest)         then PUT ?digest= (the digest known at the end)
        .mount_blob(digest, from_repository) -> bool   cross-repository mount (201), else False
        .put_manifest(reference, data, media_type) -> digest the registry reports
    RegistryError(PalletError)                   with Docker's texts ("manifest unknown", ...)

The protocol (opencontainers/distribution-spec):
GET /v2/ first; a 401 with `WWW-Authenticate: Bearer realm=...,service=...` is answered by a
token from the realm (anonymous, or asked for with the stored credentials), cached for the
client's scope, and the request is retried once; a `Basic` challenge is answered with the stored
credentials (pallet.runtime.distribution.credentials: Docker's config.json, so `docker login` counts).
Registries on loopback addresses are Docker's default insecure registries: HTTPS without
certificate checks first, plain HTTP if that fails; every other one over verified HTTPS.
Written on http.client rather than a third-party HTTP library: four verbs, redirects and one
auth scheme are all a registry needs, and the CLI's start-up stays free of them.

A registry is untrusted (pallet.runtime.distribution.answers): every digest it names is checked
before it is put in a URL or a path, JSON answers go through the limits of
pallet.runtime.image.documents, and a connection that goes quiet for TIMEOUT seconds
(PALLET_REGISTRY_TIMEOUT overrides it) fails with an error saying what was being read.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import urllib.parse
from dataclasses import dataclass

from pallet.base.errors import PalletError
from pallet.runtime.distribution.answers import (MANIFEST_LIMIT, TIMEOUT, BlobStream,  # noqa: F401
                                                 RegistryError, checked_digest, digest_as,
                                                 json_answer, read_limited, sha256_of, timeout,
                                                 discard)

DOCKER_HUB = "registry-1.docker.io"
MANIFEST_ACCEPT = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
CHUNK = 1 << 20


@dataclass(frozen=True)
class Manifest:
    data: bytes
    media_type: str
    digest: str


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:host.index("]")]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryClient:
    def __init__(self, domain: str, repository: str, *, push: bool = False,
                 credentials: tuple[str, str] | None = None) -> None:
        from pallet.runtime.distribution import credentials as stored

        self.host = DOCKER_HUB if domain == "docker.io" else domain
        # Docker's insecure registries (by default 127.0.0.0/8 and localhost): HTTPS without
        # certificate checks first, plain HTTP when that fails; every other one: verified HTTPS.
        self.insecure = _is_loopback(self.host)
        self.scheme = "https"
        self.scheme_settled = not self.insecure
        self.repository = repository
        # no repository (login): a token for the registry itself, as `docker login` asks
        self.scope = f"repository:{repository}:{'pull,push' if push else 'pull'}" if repository else ""
        self.token: str | None = None
        self.credentials = credentials if credentials is not None else stored.lookup(domain)
        self.basic = False   # the registry asked for HTTP Basic (not a token)
        self._insecure_tls = None

    def _basic_header(self) -> str:
        import base64

        user, password = self.credentials
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    # -- transport ----------------------------------------------------------------------------

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        if scheme == "https":
            context = None
            if self.insecure and netloc == self.host:
                context = self._unverified_context()
            return http.client.HTTPSConnection(netloc, timeout=timeout(), context=context)
        return http.client.HTTPConnection(netloc, timeout=timeout())

    def _unverified_context(self):
        """TLS that checks nothing (a loopback registry, as Docker's insecure ones): made once,
        and without the system's CA store, which create_default_context reads for nothing
        here (20-30 ms of every push and pull)."""
        if self._insecure_tls is None:
            import ssl

            self._insecure_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self._insecure_tls.check_hostname = False
            self._insecure_tls.verify_mode = ssl.CERT_NONE
        return self._insecure_tls

    def _url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{path}"

    def request(self, method: str, url: str, *, headers: dict | None = None, body=None,
                ok=(200,), redirects: int = 5, authorized: bool = False):
        """Send one request (following redirects, answering one auth challenge); return the
        open response when its status is in ok, else raise RegistryError."""
        headers = dict(headers or {})
        if urllib.parse.urlsplit(url).netloc == self.host and "Authorization" not in headers:
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            elif self.basic and self.credentials:
                headers["Authorization"] = self._basic_header()
        parts = urllib.parse.urlsplit(url)
        connection = self._connection(parts.scheme, parts.netloc)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            try:
                connection.request(method, target, body=body, headers=headers)
            except (BrokenPipeError, ConnectionResetError):
                # a registry may answer (a refusal) and close before a streamed body ends:
                # its answer says more than the broken pipe
                if body is None or isinstance(body, bytes):
                    raise
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            if not self.scheme_settled and parts.scheme == "https" and parts.netloc == self.host:
                self.scheme, self.scheme_settled = "http", True   # no TLS there: plain HTTP
                return self.request(method, "http" + url[len("https"):], headers=headers,
                                    body=body, ok=ok, redirects=redirects, authorized=authorized)
            # Go's net/http wording, as Docker shows it: Get "url": dial tcp ...
            raise RegistryError(f'{method.title()} "{url}": {_describe(error, parts.netloc)}',
                                hint="check the registry address and that it is running") from error
        if parts.netloc == self.host:
            self.scheme_settled = True
        if response.status in (301, 302, 303, 307, 308) and redirects > 0:
            location = response.getheader("Location") or ""
            discard(response)
            connection.close()
            # Blob storage (S3 and the like) rejects our registry token: drop it off-host.
            return self.request("GET" if response.status == 303 else method,
                                urllib.parse.urljoin(url, location), headers={
                                    k: v for k, v in headers.items() if k != "Authorization"},
                                body=body, ok=ok, redirects=redirects - 1, authorized=authorized)
        if response.status == 401 and not authorized:
            challenge = response.getheader("WWW-Authenticate") or ""
            discard(response)
            connection.close()
            self._authenticate(challenge, method, url)
            headers.pop("Authorization", None)
            return self.request(method, url, headers=headers, body=body, ok=ok,
                                redirects=redirects, authorized=True)
        if response.status not in ok:
            raise self._error(response, method, url)
        response.connection = connection  # kept open as long as the caller reads the response
        return response

    def _authenticate(self, challenge: str, method: str, url: str) -> None:
        scheme, _, params = challenge.partition(" ")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        if scheme.lower() == "basic":
            if not self.credentials:   # Docker's words for the same refusal
                raise RegistryError(f'{method.title()} "{url}": no basic auth credentials',
                                    hint="log in first: pallet login " + self.host)
            self.basic = True
            return
        if "realm" not in fields:
            raise RegistryError(f'{method.title()} "{url}": unsupported authentication '
                                f"challenge {challenge!r}")
        query = {}
        if fields.get("scope") or self.scope:
            query["scope"] = fields.get("scope") or self.scope
        if fields.get("service"):
            query["service"] = fields["service"]
        url = fields["realm"] + ("&" if "?" in fields["realm"] else "?") + \
            urllib.parse.urlencode(query)
        saved, self.token = self.token, None
        headers = {"Authorization": self._basic_header()} if self.credentials else {}
        try:
            response = self.request("GET", url, headers=headers, ok=(200,), authorized=True)
            document = json_answer(read_limited(response, MANIFEST_LIMIT) or b"{}",
                                    "the token answer")
            if not isinstance(document, dict):
                raise RegistryError("the answer is not a JSON object")
            token = document.get("token") or document.get("access_token")
            if token is not None and not isinstance(token, str):
                raise RegistryError("the token is not a string")
        except (OSError, http.client.HTTPException, RegistryError) as error:
            self.token = saved
            raise RegistryError(f"unauthorized: cannot get a token from {fields['realm']}: "
                                f"{getattr(error, 'message', error)}") from error
        self.token = token

    def _error(self, response, method: str, url: str) -> RegistryError:
        try:
            body = read_limited(response, MANIFEST_LIMIT)
            errors = json_answer(body, "the error answer").get("errors") or []
            first = errors[0]
            text = f"{first.get('code', '').lower().replace('_', ' ')}: {first.get('message', '')}"
            if not isinstance(first.get("code", ""), str) or not isinstance(first.get("message", ""), str):
                raise TypeError("not strings")
        except (PalletError, OSError, http.client.HTTPException, AttributeError, IndexError,
                KeyError, TypeError):
            text = f"{response.status} {response.reason}"
        finally:
            response.close()
        error = RegistryError(text.strip(": "))
        error.status = response.status
        return error

    # -- API ----------------------------------------------------------------------------------

    def ping(self) -> None:
        """GET /v2/: is there a registry (200, or 401 before any credentials are asked for)."""
        response = self.request("GET", self._url("/v2/"), ok=(200, 401), authorized=True)
        discard(response)
        response.close()

    def check_login(self) -> None:
        """GET /v2/ with the credentials: what `login` verifies (Docker's wording on refusal)."""
        try:
            response = self.request("GET", self._url("/v2/"), ok=(200,))
        except RegistryError as error:
            if getattr(error, "status", None) != 401 and "credentials" not in error.message:
                raise
            raise RegistryError(f"login attempt to {self._url('/v2/')} failed with status: "
                                "401 Unauthorized") from error
        discard(response)
        response.close()

    def get_manifest(self, reference: str) -> Manifest:
        """The manifest a tag or digest names. A tag is resolved with HEAD first, as Docker
        does, and the manifest then fetched (and verified) by its digest."""
        by_digest = ":" in reference
        if by_digest:
            checked_digest(reference, "manifest digest")
        else:
            try:
                head = self.request("HEAD", self._url(
                    f"/v2/{self.repository}/manifests/{reference}"), headers={"Accept": MANIFEST_ACCEPT})
            except RegistryError as error:
                if getattr(error, "status", None) is None:
                    raise   # unreachable or refused credentials: no GET will do better
                head = None  # a HEAD answer has no body: the GET below tells what is wrong
            if head is not None:
                discard(head)
                head.close()
                named = head.getheader("Docker-Content-Digest")
                if named:
                    reference = checked_digest(named, "Docker-Content-Digest header")
                    by_digest = True
        response = self.request("GET", self._url(f"/v2/{self.repository}/manifests/{reference}"),
                                headers={"Accept": MANIFEST_ACCEPT})
        stream = BlobStream(response, f"manifest {reference}", self.host, timeout())
        try:
            data = read_limited(stream, MANIFEST_LIMIT)
        finally:
            stream.close()
        media_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
        digest = sha256_of(data)
        if by_digest and digest_as(data, reference.split(":", 1)[0]) != reference:
            raise RegistryError(f"manifest verification failed for digest {reference}",
                                hint="the registry served other content; nothing was stored")
        document = json_answer(data, f"manifest {self.repository}:{reference}")
        if not isinstance(document, dict):
            raise RegistryError(f"invalid manifest for {self.repository}:{reference}: "
                                "not a JSON object", hint="the registry is broken or malicious")
        if isinstance(document.get("mediaType"), str):
            media_type = document["mediaType"]
        return Manifest(data=data, media_type=media_type, digest=digest)

    def open_blob(self, digest: str) -> BlobStream:
        checked_digest(digest, "blob digest")
        response = self.request("GET", self._url(f"/v2/{self.repository}/blobs/{digest}"))
        return BlobStream(response, f"blob {digest}", self.host, timeout())

    def open_manifest(self, digest: str) -> BlobStream:
        checked_digest(digest, "manifest digest")
        response = self.request("GET", self._url(f"/v2/{self.repository}/manifests/{digest}"),
                                headers={"Accept": MANIFEST_ACCEPT})
        return BlobStream(response, f"manifest {digest}", self.host, timeout())

    def has_blob(self, digest: str) -> bool:
        response = self.request("HEAD", self._url(f"/v2/{self.repository}/blobs/{digest}"),
                                ok=(200, 404))
        discard(response)
        response.close()
        return response.status == 200

    def upload_blob(self, stream, digest: str, size: int) -> None:
        started = self.request("POST", self._url(f"/v2/{self.repository}/blobs/uploads/"),
                               headers={"Content-Length": "0"}, ok=(202,))
        location = started.getheader("Location") or ""
        discard(started)
        started.close()
        url = urllib.parse.urljoin(self._url("/"), location)
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})
        done = self.request("PUT", url, body=stream, ok=(201, 204), headers={
            "Content-Type": "application/octet-stream", "Content-Length": str(size)})
        discard(done)
        done.close()

    def mount_blob(self, digest: str, from_repository: str) -> bool:
        """Ask the registry to link a blob another repository of it has (no bytes move)."""
        checked_digest(digest, "blob digest")
        query = urllib.parse.urlencode({"mount": digest, "from": from_repository})
        response = self.request("POST", self._url(f"/v2/{self.repository}/blobs/uploads/?{query}"),
                                headers={"Content-Length": "0"}, ok=(201, 202))
        discard(response)
        response.close()
        if response.status == 202:   # an upload was opened instead: abandon it
            location = response.getheader("Location") or ""
            if location:
                self._cancel(urllib.parse.urljoin(self._url("/"), location))
        return response.status == 201

    def _cancel(self, url: str) -> None:
        try:
            response = self.request("DELETE", url, ok=(200, 202, 204, 404))
            discard(response)
            response.close()
        except RegistryError:
            pass   # an abandoned upload session expires on its own

    def upload_stream(self, chunks) -> str:
        """Send an iterable of byte chunks as one chunked PATCH of a new upload (the digest
        need not be known yet); returns the location finish_upload completes."""
        started = self.request("POST", self._url(f"/v2/{self.repository}/blobs/uploads/"),
                               headers={"Content-Length": "0"}, ok=(202,))
        discard(started)
        started.close()
        url = urllib.parse.urljoin(self._url("/"), started.getheader("Location") or "")
        patched = self.request("PATCH", url, body=chunks, ok=(202, 204), headers={
            "Content-Type": "application/octet-stream"})
        discard(patched)
        patched.close()
        return urllib.parse.urljoin(url, patched.getheader("Location") or url)

    def finish_upload(self, location: str, digest: str) -> None:
        url = location + ("&" if "?" in location else "?") + \
            urllib.parse.urlencode({"digest": digest})
        done = self.request("PUT", url, ok=(201, 204), headers={"Content-Length": "0"})
        discard(done)
        done.close()

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> str:
        response = self.request("PUT", self._url(f"/v2/{self.repository}/manifests/{reference}"),
                                body=data, ok=(201, 200), headers={"Content-Type": media_type})
        discard(response)
        response.close()
        digest = sha256_of(data)
        reported = response.getheader("Docker-Content-Digest")
        if reported and checked_digest(reported, "Docker-Content-Digest header") != digest:
            raise RegistryError(f"the registry reported digest {reported} for the manifest "
                                f"pallet pushed, whose digest is {digest}",
                                hint="the registry is broken or malicious")
        return digest


def _describe(error: BaseException, netloc: str) -> str:
    """Go's dial errors, which is how Docker words an unreachable registry."""
    if isinstance(error, ConnectionRefusedError):
        return f"dial tcp {netloc}: connect: connection refused"
    if isinstance(error, TimeoutError):
        return f"dial tcp {netloc}: i/o timeout"
    return str(error) or type(error).__name__
