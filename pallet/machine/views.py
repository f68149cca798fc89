"""What `machine ls`, `env`, `inspect` and `active` print, in docker-machine's layouts."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

from pallet.base.errors import PalletError
from pallet.format.listing import ListingKind
from pallet.machine import store

MACHINES = ListingKind(
    "*commands.HostListItem",
    "{{.Name}}\t{{.Active}}\t{{.DriverName}}\t{{.State}}\t{{.URL}}\t{{.PalletVersion}}\t{{.Error}}",
    {"Name": "NAME", "Active": "ACTIVE", "ActiveHost": "ACTIVE", "DriverName": "DRIVER",
     "State": "STATE", "URL": "URL", "PalletVersion": "PALLET", "DockerVersion": "PALLET",
     "Error": "ERRORS", "ResponseTime": "RESPONSE"})


def active_name() -> str:
    """The machine whose URL DOCKER_HOST (or PALLET_HOST) names, as docker-machine's ACTIVE."""
    from pallet.machine import lifecycle
    wanted = os.environ.get("PALLET_HOST") or os.environ.get("DOCKER_HOST") or ""
    if not wanted:
        return ""
    for name in store.names():
        try:
            if lifecycle.url(store.load(name)) == wanted:
                return name
        except PalletError:
            continue
    return ""


def _row(name: str, active: str, timeout: float) -> dict:
    import time
    from pallet.machine import lifecycle
    from pallet.machine.drivers import RUNNING
    from pallet.machine.engine import version
    row = {"Name": name, "Active": "-", "ActiveHost": False, "DriverName": "", "State": "",
           "URL": "", "PalletVersion": "Unknown", "DockerVersion": "Unknown", "Error": "",
           "ResponseTime": ""}
    try:
        record = store.load(name)
        row["DriverName"] = record.driver
        driver = lifecycle.driver_for(record)
        row["URL"] = lifecycle.url(record, driver)
        if name == active:
            row["Active"], row["ActiveHost"] = "*", True
        if not record.provisioned:
            row["State"], row["Error"] = "Error", "create did not finish: `pallet machine rm`"
            return row
        row["State"] = driver.power_state()
        if row["State"] != RUNNING:
            row["URL"] = ""
            return row
        host, port = driver.engine_address()
        started = time.monotonic()
        answer = version(host, port, lifecycle.certs_for(name), timeout=timeout)
        row["ResponseTime"] = f"{(time.monotonic() - started) * 1000:.0f}ms"
        row["PalletVersion"] = row["DockerVersion"] = f"v{answer.get('Version', '?')}"
    except PalletError as error:
        row["Error"] = error.message
    return row


def listing_rows(timeout: float) -> list[dict]:
    names = store.names()
    active = active_name()
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
        return list(pool.map(lambda name: _row(name, active, timeout), names))


def render(format_: str | None, rows: list[dict]) -> str:
    from pallet.format.kinds import row_struct
    from pallet.format.listing import render_listing
    return render_listing(format_, [row_struct(MACHINES, row) for row in rows], MACHINES)


_SHELLS = {
    # shell: (set line, unset line, how to apply it)
    "bash": ('export {k}="{v}"\n', "unset {k}\n", "# eval $({cmd})\n"),
    "fish": ('set -gx {k} "{v}";\n', "set -e {k};\n", "# eval ({cmd})\n"),
    "powershell": ('$Env:{k} = "{v}"\n', "Remove-Item Env:\\\\{k}\n",
                   "# & {cmd} | Invoke-Expression\n"),
    "cmd": ("SET {k}={v}\n", "SET {k}=\n",
            "REM @FOR /f \"tokens=*\" %i IN ('{cmd}') DO @%i\n"),
}


def env_text(name: str | None, shell: str, unset: bool) -> str:
    from pallet.machine import lifecycle
    set_line, unset_line, apply = _SHELLS.get(shell, _SHELLS["bash"])
    comment = "REM" if shell == "cmd" else "#"
    keys = ("DOCKER_TLS_VERIFY", "DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_MACHINE_NAME")
    if unset:
        text = "".join(unset_line.format(k=k) for k in keys)
        command = "pallet machine env --unset"
    else:
        record = store.load(name)
        if not record.provisioned:
            raise PalletError(f"machine {name} was not fully created",
                              hint=f"remove it: pallet machine rm {name}")
        values = {"DOCKER_TLS_VERIFY": "1", "DOCKER_HOST": lifecycle.url(record),
                  "DOCKER_CERT_PATH": str(store.directory(name)), "DOCKER_MACHINE_NAME": name}
        text = "".join(set_line.format(k=k, v=values[k]) for k in keys)
        command = f"pallet machine env {name}"
        if shell != "bash":
            command = f"pallet machine env --shell {shell} {name}"
    return (text + f"{comment} Run this command to configure your shell: \n"
            + apply.format(cmd=command).replace("#", comment, 1))


def inspect_document(name: str) -> dict:
    from pallet.machine import lifecycle
    record = store.load(name)
    certs = lifecycle.certs_for(name)
    document = {"Name": name, "DriverName": record.driver, "Driver": dict(record.driver_state),
                "URL": "", "HostOptions": {
                    "AuthOptions": {"CertDir": str(store.directory(name)),
                                    "CaCertPath": str(certs.ca), "CaPrivateKeyPath": str(certs.ca_key),
                                    "ServerCertPath": str(certs.server),
                                    "ServerKeyPath": str(certs.server_key),
                                    "ClientCertPath": str(certs.cert),
                                    "ClientKeyPath": str(certs.key),
                                    "StorePath": str(store.directory(name))}},
                "Pallet": asdict(record)}
    try:
        document["URL"] = lifecycle.url(record)
    except (PalletError, KeyError):
        pass
    return document
