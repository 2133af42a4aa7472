"""Send by name from Python: a message reaches the mailbox of the key's
owner in another process, and receive times out when none comes."""

from __future__ import annotations

import os

import pytest

import shmreg
from conftest import Broker

_RECEIVER = """
import sys, shmreg
c = shmreg.Client()
with c.mailbox() as box:
    c.registry("inbox").register(b"worker", b"")
    print("ready", flush=True)
    m = box.receive(10.0)
    sys.stdout.buffer.write(m.body + b"|" + str(m.sender_pid).encode() + b"\\n")
"""


def test_a_message_sent_by_name_reaches_the_owner_in_another_process(broker: Broker, client: shmreg.Client) -> None:
    client.create_registry("inbox")
    receiver = broker.spawn_python(_RECEIVER)
    try:
        assert receiver.stdout is not None and receiver.stdout.readline() == b"ready\n"
        assert client.send("inbox", b"worker", b"job\xff") == 1
        assert receiver.stdout.readline() == b"job\xff|" + str(os.getpid()).encode() + b"\n"
        assert receiver.wait(timeout=10) == 0
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()


def test_receive_raises_timeout_when_no_message_comes(client: shmreg.Client) -> None:
    with client.mailbox() as box:
        assert box.fileno() >= 0
        with pytest.raises(shmreg.Timeout):
            box.receive(0.05)


def test_a_second_mailbox_in_one_process_is_mailbox_exists(client: shmreg.Client) -> None:
    with client.mailbox():
        with pytest.raises(shmreg.MailboxExists):
            client.mailbox()
