"""Contexts live where the docker CLI keeps them (checked with the stock docker CLI, HOME a temp
dir), select the host as docker's do, and bad ones are one-paragraph errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.api.conftest import DOCKER_CLI
from tests.remote.conftest import HOST_VARIABLES, ok, run_pallet
from tests.remote.tlsserver import make_certs, tls_server

LS_FORMAT = "{{.Name}}|{{.Description}}|{{.DockerEndpoint}}|{{.Current}}"


def _home_env(tmp_path: Path) -> dict:
    """No DOCKER_CONFIG: both tools must find ~/.docker by themselves."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in HOST_VARIABLES}
    env.update(HOME=str(home), DOCKER_CLI_HINTS="false")
    return env


def _docker(*args, env) -> str:
    result = subprocess.run([DOCKER_CLI, *args], env=env, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_contexts_are_the_docker_clis_own(tmp_path):
    env = _home_env(tmp_path)
    home = Path(env["HOME"])
    cert = tmp_path / "cert.pem"
    key = tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=ctx"],
                   check=True, capture_output=True)
    made = run_pallet("context", "create", "far", "--docker", "host=ssh://ops@10.9.8.7:2222",
                      "--description", "over ssh", env=env)
    assert made.stdout == b"far\n" and made.stderr == b'Successfully created context "far"\n'
    ok(run_pallet("context", "create", "tls", "--docker",
                  f"host=tcp://127.0.0.1:2376,ca={cert},cert={cert},key={key}", env=env))
    _docker("context", "create", "sock", "--docker", "host=unix:///tmp/elsewhere.sock", env=env)
    meta = home / ".docker/contexts/meta" / hashlib.sha256(b"far").hexdigest() / "meta.json"
    assert json.loads(meta.read_text()) == {
        "Name": "far", "Metadata": {"Description": "over ssh"},
        "Endpoints": {"docker": {"Host": "ssh://ops@10.9.8.7:2222", "SkipTLSVerify": False}}}
    tls = home / ".docker/contexts/tls" / hashlib.sha256(b"tls").hexdigest() / "docker"
    assert sorted(p.name for p in tls.iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
    assert (tls / "key.pem").stat().st_mode & 0o077 == 0
    assert _docker("context", "inspect", "tls", "--format",
                   "{{json .TLSMaterial}} {{.Endpoints.docker.Host}}", env=env) == \
        '{"docker":["ca.pem","cert.pem","key.pem"]} tcp://127.0.0.1:2376\n'

    ok(run_pallet("context", "use", "sock", env=env))
    assert json.loads((home / ".docker/config.json").read_text())["currentContext"] == "sock"
    docker_rows = _docker("context", "ls", "--format", LS_FORMAT, env=env).splitlines()
    pallet_rows = ok(run_pallet("context", "ls", "--format", LS_FORMAT, env=env)).splitlines()
    # the same contexts, the same current one; only "default" differs (docker's is a daemon)
    assert [r for r in docker_rows if not r.startswith("default|")] == \
        [r for r in pallet_rows if not r.startswith("default|")] == [
            "far|over ssh|ssh://ops@10.9.8.7:2222|false", "sock||unix:///tmp/elsewhere.sock|true",
            "tls||tcp://127.0.0.1:2376|false"]
    table = ok(run_pallet("context", "ls", env=env)).splitlines()
    assert table[0].split() == ["NAME", "DESCRIPTION", "DOCKER", "ENDPOINT", "ERROR"]
    assert [line.split()[0:2] for line in table[1:]] == \
        [["default", "pallet's"], ["far", "over"], ["sock", "*"], ["tls", "tcp://127.0.0.1:2376"]]
    assert ok(run_pallet("context", "ls", "-q", env=env)) == "default\nfar\nsock\ntls\n"

    _docker("context", "use", "tls", env=env)
    assert ok(run_pallet("context", "show", env=env)) == "tls\n"
    document = json.loads(ok(run_pallet("context", "inspect", "far", env=env)))
    assert document == json.loads(_docker("context", "inspect", "far", env=env))

    busy = run_pallet("context", "rm", "tls", env=env)
    assert busy.returncode == 1
    assert busy.stderr == b'context "tls" is in use, set -f flag to force remove\n'
    assert ok(run_pallet("context", "rm", "-f", "tls", "sock", env=env)) == "tls\nsock\n"
    assert "currentContext" not in json.loads((home / ".docker/config.json").read_text())
    assert not tls.parent.exists()
    assert _docker("context", "ls", "-q", env=env).split() == ["default", "far"]


def test_a_context_selects_its_host(api, client_env, tmp_path):
    ok(run_pallet("--root", str(api.root), "create", "--name", "there", "busybox", "true",
                  env=client_env))
    ok(run_pallet("context", "create", "srv", "--docker", f"host={api.host}", env=client_env))
    names = ["ps", "-a", "--format", "{{.Names}}"]
    assert ok(run_pallet("--context", "srv", *names, env=client_env)) == "there\n"
    assert ok(run_pallet("-c", "srv", *names, env=client_env)) == "there\n"
    assert ok(run_pallet(*names, env={**client_env, "DOCKER_CONTEXT": "srv"})) == "there\n"
    ok(run_pallet("context", "use", "srv", env=client_env))
    assert ok(run_pallet(*names, env=client_env)) == "there\n"
    assert ok(run_pallet("version", "--format", "{{.Client.Context}}", env=client_env)) == \
        "srv\n"
    # "default" is the local store: an empty one here
    local = tmp_path / "local-store"
    assert ok(run_pallet("--root", str(local), "--context", "default", *names,
                         env=client_env)) == ""
    # DOCKER_HOST overrides the current context, as in docker
    missing = f"unix://{tmp_path}/gone.sock"
    gone = run_pallet(*names, env={**client_env, "DOCKER_HOST": missing})
    assert gone.returncode == 1 and missing in gone.stderr.decode()


def test_bad_contexts_are_one_paragraph_errors(client_env, tmp_path):
    unknown = run_pallet("--context", "nowhere", "ps", env=client_env)
    assert unknown.returncode == 1
    assert unknown.stderr.decode().startswith('context "nowhere": context not found')
    ok(run_pallet("context", "create", "dead", "--docker", f"host=unix://{tmp_path}/no.sock",
                  env=client_env))
    dead = run_pallet("--context", "dead", "images", env=client_env)
    assert dead.returncode == 1
    assert dead.stderr.decode() == (
        f'Cannot connect to the pallet engine at unix://{tmp_path}/no.sock (context "dead"): '
        "no such socket. Is `pallet serve` (or a docker daemon) running there?\n")
    cases = [
        (["dead", "--docker", "host=unix:///x"], 'context "dead" already exists'),
        (["default", "--docker", "host=unix:///x"], '"default" is a reserved context name'),
        (["bad name", "--docker", "host=unix:///x"], 'context name "bad name" is invalid'),
        (["pathy", "--docker", "host=ssh://h/var/run/x.sock"], "an ssh:// address takes no path"),
        (["nocert", "--docker", f"host=tcp://h:1,ca={tmp_path}/none.pem"],
         f"open {tmp_path}/none.pem: no such file or directory"),
        (["nohost"], "needs --docker host=URL"),
    ]
    for args, words in cases:
        result = run_pallet("context", "create", *args, env=client_env)
        assert result.returncode == 1 and words in result.stderr.decode(), (args, result.stderr)
    assert ok(run_pallet("context", "ls", "-q", env=client_env)) == "dead\ndefault\n"
    assert run_pallet("context", "use", "nowhere", env=client_env).returncode == 1
    removed = run_pallet("context", "rm", "nowhere", "default", env=client_env)
    assert removed.returncode == 1 and removed.stderr == (
        b'context "nowhere" does not exist\ncontext "default" cannot be removed\n')


def test_tcp_with_tls_from_flags_environment_and_a_context(api_root, client_env, tmp_path):
    certs = make_certs(tmp_path / "certs")
    with tls_server(api_root, certs) as url:
        ok(run_pallet("--root", str(api_root), "create", "--name", "tlsseen", "busybox", "true",
                      env=client_env))
        flags = ["--tlsverify", "--tlscacert", str(certs / "ca.pem"), "--tlscert",
                 str(certs / "client-cert.pem"), "--tlskey", str(certs / "client-key.pem")]
        names = ["ps", "-a", "--format", "{{.Names}}"]
        assert ok(run_pallet("-H", url, *flags, *names, env=client_env)) == "tlsseen\n"
        # DOCKER_TLS_VERIFY + DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem there)
        cert_path = tmp_path / "cert-path"
        cert_path.mkdir()
        for source, target in (("ca.pem", "ca.pem"), ("client-cert.pem", "cert.pem"),
                               ("client-key.pem", "key.pem")):
            (cert_path / target).write_bytes((certs / source).read_bytes())
        env = {**client_env, "DOCKER_HOST": url, "DOCKER_TLS_VERIFY": "1",
               "DOCKER_CERT_PATH": str(cert_path)}
        assert ok(run_pallet(*names, env=env)) == "tlsseen\n"
        ok(run_pallet("context", "create", "tlsctx", "--docker",
                      f"host={url},ca={certs}/ca.pem,cert={certs}/client-cert.pem,"
                      f"key={certs}/client-key.pem", env=client_env))
        assert ok(run_pallet("--context", "tlsctx", *names, env=client_env)) == "tlsseen\n"
        # without a client certificate the server never answers: one paragraph, exit 1
        bare = run_pallet("-H", url, "--tlsverify", "--tlscacert", str(certs / "ca.pem"),
                          *names, env=client_env)
        assert bare.returncode == 1 and "Traceback" not in bare.stderr.decode()
        assert bare.stderr.decode().count("\n") == 1, bare.stderr
