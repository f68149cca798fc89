"""What the machine commands do, for any driver: create (driver, checks, certificates, install,
context), remove, start/stop/restart, status, upgrade.

    create(name, driver, flags, prefix=None, link_dir="/usr/local/bin", say=print) -> MachineRecord
    remove(name, force=False)     # the host's install, the context, the local record

A create that fails before anything reached the host leaves nothing (not even the local
record: the name is free again). One that fails after the install began removes what it put
on the host; if even that fails, the record stays (marked unprovisioned) so `machine rm` (or
`rm -f` when the host is gone) can finish the job.
"""

from __future__ import annotations

import datetime
from pathlib import PurePosixPath

from pallet.base.errors import PalletError
from pallet.machine import store
from pallet.machine.certs import CertPaths
from pallet.machine.drivers import RUNNING, Driver, driver_class
from pallet.machine.layout import DEFAULT_PREFIX, HostLayout
from pallet.machine.ssh import Ssh


def driver_for(record: store.MachineRecord) -> Driver:
    return driver_class(record.driver)(store.directory(record.name), record.driver_state)


def ssh_for(record: store.MachineRecord, driver: Driver | None = None) -> Ssh:
    driver = driver or driver_for(record)
    return Ssh(driver.ssh_address(), store.directory(record.name) / "known_hosts")


def certs_for(name: str) -> CertPaths:
    return CertPaths(store.directory(name))


def url(record: store.MachineRecord, driver: Driver | None = None) -> str:
    host, port = (driver or driver_for(record)).engine_address()
    return f"tcp://{f'[{host}]' if ':' in host else host}:{port}"


def _version() -> str:
    from pallet import __version__
    return __version__


def create(name: str, driver_name: str, flags: dict, *, prefix: str | None = None,
           link_dir: str = "/usr/local/bin", say=print) -> store.MachineRecord:
    from pallet.machine import provision
    from pallet.machine.certs import make_certificates
    from pallet.machine.wheels import wheelhouse
    store.check_name(name)
    cls = driver_class(driver_name)
    host_prefix = provision.check_prefix(prefix or DEFAULT_PREFIX.format(name=name))
    layout = HostLayout(host_prefix)
    say("Running pre-create checks...")
    directory = store.make_directory(name)
    # ssh appends the host key to it, keeping its mode
    (directory / "known_hosts").touch(mode=0o600)
    driver = cls(directory, {})
    record = store.MachineRecord(
        name=name, driver=driver_name, prefix=str(host_prefix), link_dir=link_dir,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    touched_host = False
    try:
        _check_context_free(name)
        say("Creating machine...")
        driver.create(name, flags)
        record = _replace(record, driver_state=driver.state)
        store.save(record)
        ssh = ssh_for(record, driver)
        say(f"Detecting the host's system ({ssh.where()})...")
        facts = provision.probe(ssh, host_prefix)
        provision.check(facts, ssh.where(), host_prefix, name)
        record = _replace(record, sudo=facts.privilege != "")
        host, port = driver.engine_address()
        listen = driver.listen_address()
        say("Creating CA and certificates...")
        sans = tuple(a for a in (host, listen, "localhost", "127.0.0.1") if a != "0.0.0.0")
        certs = make_certificates(directory, name, sans)
        say("Building the wheels to install...")
        wheels = wheelhouse(store.storage_path() / "cache" / "wheels")
        say("Installing pallet and starting pallet serve on the host...")
        touched_host = True
        store.save(record)
        provision.install(ssh, facts, layout, wheels=wheels,
                          certs={"ca.pem": certs.ca, "server.pem": certs.server,
                                 "server-key.pem": certs.server_key},
                          record={"name": name, "listen": listen, "port": port,
                                  "link_dir": link_dir})
        say("Checking connection to pallet...")
        answer = _await_engine(host, port, certs)
        record = _replace(record, provisioned=True,
                          pallet_version=str(answer.get("Version", _version())))
        store.save(record)
        _make_context(record, driver)
    except BaseException as error:
        _undo(record, touched_host, error, driver)
        raise
    say("pallet is up and running!")
    say(f"To see how to connect your Docker Client to the pallet Engine running on this "
        f"machine, run: pallet machine env {name}")
    return record


def _replace(record, **changes):
    import dataclasses
    return dataclasses.replace(record, **changes)


# How long a new or upgraded host's engine may take to answer. The service is started by the
# time provisioning returns, but a VM under software emulation (TCG) takes tens of seconds to
# bring it up, and qemu's forwarded port accepts and then resets while nothing listens inside.
ENGINE_WAIT = 240.0


def _await_engine(host: str, port: int, certs, seconds: float = ENGINE_WAIT) -> dict:
    """GET /version until it answers; the last error when it never does."""
    import time

    from pallet.machine.engine import version
    deadline = time.monotonic() + seconds
    while True:
        try:
            return version(host, port, certs, timeout=30)
        except PalletError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(1.0)


def _undo(record: store.MachineRecord, touched_host: bool, error: BaseException,
          driver: Driver | None = None) -> None:
    """Take back what a failed create made: the install on the host, then what the driver
    made (a VM and its disk; the generic driver nothing), the context and the record. When
    the install cannot be removed the record stays, so `machine rm -f` can finish later."""
    def add_hint(text: str) -> None:
        if isinstance(error, PalletError):
            error.hint = ((error.hint + "; ") if error.hint else "") + text
    if touched_host and not (driver is not None and driver.owns_host):
        from pallet.machine import provision
        try:
            provision.uninstall(ssh_for(record), record.prefix, record.sudo)
        except PalletError as cleanup:
            add_hint(f"removing the partial install failed too ({cleanup.message}): "
                     f"`pallet machine rm -f {record.name}` when the host is back")
            return
    if driver is not None:
        try:
            driver.remove()
        except (PalletError, OSError) as cleanup:
            add_hint(f"removing what the {record.driver} driver made failed too ({cleanup}): "
                     f"`pallet machine rm -f {record.name}`")
            return
    if record.provisioned:      # the context is made last: only then can it exist
        _remove_context(record.name, url(record))
    store.remove(record.name)


def _check_context_free(name: str) -> None:
    from pallet.remote import contexts
    if contexts.exists(name):
        raise PalletError(f'Error creating machine: a context named "{name}" already exists '
                          "(machine create makes one named after the machine)",
                          hint=f"choose another name, or `pallet context rm {name}`")


def _make_context(record: store.MachineRecord, driver: Driver) -> None:
    """A context named after the machine, in Docker's context store (pallet.remote.contexts):
    its tcp:// URL with the machine's CA and client certificate, so `pallet --context NAME`
    and `docker --context NAME` reach it over mutual TLS."""
    from pallet.remote import contexts
    certs = certs_for(record.name)
    contexts.create(record.name, url(record, driver), description=f"pallet machine {record.name}",
                    tls_sources={"ca.pem": str(certs.ca), "cert.pem": str(certs.cert),
                                 "key.pem": str(certs.key)})


def _remove_context(name: str, machine_url: str | None) -> None:
    """The machine's context, if it is still the machine's (same name and URL)."""
    from pallet.remote import contexts
    try:
        context = contexts.load(name)
    except PalletError:
        return
    if machine_url is None or context.docker_host == machine_url:
        contexts.remove(name)


def remove(name: str, force: bool = False) -> list[str]:
    """Take the machine off its host and forget it; with force a host that cannot be reached
    (or a failing removal) still loses the local record. Returns warnings for the user."""
    from pallet.machine import provision
    record = store.load(name)
    warnings = []
    try:
        driver = driver_for(record)
        if record.prefix and not driver.owns_host:
            provision.uninstall(ssh_for(record, driver), record.prefix, record.sudo)
        driver.remove()
    except PalletError as error:
        if not force:
            raise PalletError(f"Error removing host \"{name}\": {error.message}",
                              hint=f"`pallet machine rm -f {name}` removes the local record "
                                   "even so") from error
        warnings.append(f"the host could not be cleaned ({error.message}); removing the local "
                        "record anyway")
    try:
        machine_url = url(record)
    except (PalletError, KeyError):
        machine_url = None
    _remove_context(name, machine_url)
    store.remove(name)
    return warnings


def service(name: str, action: str) -> str:
    from pallet.machine import provision
    record = store.load(name)
    _require_provisioned(record)
    driver = driver_for(record)
    if action in ("start", "restart"):
        driver.start()
    if action == "stop" and driver.owns_host:
        # The host is the driver's own VM: one that does not answer (hung) is powered off all
        # the same, which stops the service with it, as a VM's power button would.
        try:
            output = provision.host_action(ssh_for(record, driver), record.prefix,
                                           record.sudo, action)
        except PalletError:
            output = ""
        driver.stop()
        return output
    output = provision.host_action(ssh_for(record, driver), record.prefix, record.sudo, action)
    if action == "stop":
        driver.stop()
    return output


def status(name: str) -> str:
    record = store.load(name)
    driver = driver_for(record)
    power = driver.power_state()
    if power != RUNNING or not record.provisioned:
        return power if record.provisioned else "Error"
    from pallet.machine.engine import version
    host, port = driver.engine_address()
    try:
        version(host, port, certs_for(name), timeout=10)
    except PalletError:
        return "Stopped"
    return RUNNING


def upgrade(name: str, say=print) -> store.MachineRecord:
    from pallet.machine import provision
    from pallet.machine.wheels import wheelhouse
    record = store.load(name)
    _require_provisioned(record)
    driver = driver_for(record)
    ssh = ssh_for(record, driver)
    facts = provision.probe(ssh, PurePosixPath(record.prefix))
    say("Building the wheels to install...")
    wheels = wheelhouse(store.storage_path() / "cache" / "wheels")
    say(f"Upgrading pallet on {ssh.where()} and restarting pallet serve...")
    provision.install(ssh, facts, HostLayout(PurePosixPath(record.prefix)), wheels=wheels,
                      certs=None, record=None, action="upgrade")
    host, port = driver.engine_address()
    answer = _await_engine(host, port, certs_for(name))
    record = _replace(record, pallet_version=str(answer.get("Version", _version())))
    store.save(record)
    return record


def _require_provisioned(record: store.MachineRecord) -> None:
    if not record.provisioned:
        raise PalletError(f"machine {record.name} was not fully created",
                          hint=f"remove it: pallet machine rm {record.name}")
