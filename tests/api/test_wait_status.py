"""A wait's exit status is never lost to a race and never made up.

- The server's wait reads the monitor's frames with a poll that gives up every 500 ms to look
  at the container. A --rm container can exit, send its EXIT frame and remove itself between
  the poll's timeout and that look: the frame is then already in the socket and must be read
  (before, the wait answered StatusCode 0: `run --rm` over ssh exited 0 for `exit 7`, once in
  a loaded CI run).
- When the monitor ended without an EXIT frame and the record is gone, the container's last
  "die" event gives the code.
- The client takes an answer without a status for a failed wait (125), not for exit code 0.
"""

from __future__ import annotations

import json
import socket

import pytest

from pallet.api.streams import monitor_frames
from pallet.api.waits import last_exit_code
from pallet.base.errors import PalletError
from pallet.runtime.container.attach import EXIT, frame


class _GoneAfterTheExit:
    """A monitor link whose container exits (EXIT sent) and is removed while the wait's poll
    has just timed out: check() finds it gone."""

    def __init__(self) -> None:
        self.sock, self.monitor = socket.socketpair()

    def check(self) -> bool:
        self.monitor.sendall(frame(EXIT, json.dumps({"code": 7}).encode()))
        return False


def test_an_exit_frame_that_came_after_the_poll_gave_up_is_read():
    link = _GoneAfterTheExit()
    try:
        assert list(monitor_frames(link)) == [(EXIT, b'{"code": 7}')]
    finally:
        link.sock.close()
        link.monitor.close()


def test_a_removed_containers_code_comes_from_its_last_die_event(tmp_path):
    from pallet.runtime.store.events import record_event
    ident = "ab" * 32
    assert last_exit_code(tmp_path, ident) is None
    record_event(tmp_path, "container", "die", ident, {"exitCode": "3", "name": "x"})
    record_event(tmp_path, "container", "die", "cd" * 32, {"exitCode": "9", "name": "y"})
    record_event(tmp_path, "container", "die", ident, {"exitCode": "7", "name": "x"})
    assert last_exit_code(tmp_path, ident) == 7


@pytest.mark.parametrize("body", [b"", b"  \n", b"{not json"])
def test_a_wait_answer_without_a_status_is_a_failed_wait_not_exit_0(body):
    from requests.models import Response

    from pallet.remote.run import exit_status
    response = Response()
    response.status_code = 200
    response._content = body
    with pytest.raises(PalletError) as caught:
        exit_status(response)
    assert caught.value.exit_code == 125
    assert caught.value.message.startswith("Error waiting for container: ")
