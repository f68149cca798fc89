"""One VM for the side-by-side module (a boot costs ~30 s of both cores under TCG). Module-scoped,
not session-scoped: it is powered off when that module ends, before test_qemu_machine.py boots
its machines, instead of idling beside them until the worker's session ends."""

from __future__ import annotations

import json

import pytest

from tests.vm.guestvm import GuestVm


@pytest.fixture(scope="module")
def vm(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cgv2")
    guest = GuestVm.start(tmp)
    clean = False
    try:
        yield guest
    finally:
        clean = guest.stop()
        # what the VM cost, for the notes and bench/RESULTS-vm.md (shown with -s)
        timings = {key: round(value, 1) for key, value in guest.timings.items()}
        (tmp / "timings.json").write_text(json.dumps(timings) + "\n")
        print(f"\nVM timings (s): {timings}")
    # the clean path of `machine stop` (qemu.shutdown): asked over ssh, the guest powered
    # itself off within the grace period instead of being killed
    assert clean, "the guest did not power itself off when asked (it was killed)"
