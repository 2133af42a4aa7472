"""Lookups from Python: hits and misses, every read of a registry, bytes
that are not UTF-8, and registrations that other processes (the real CLI)
make or see."""

from __future__ import annotations

import os
import signal

import shmreg
from conftest import Broker, wait_until


def test_a_registered_key_is_found_and_an_unknown_one_is_a_miss(client: shmreg.Client) -> None:
    reg = client.create_registry("db")
    version = reg.register(b"primary", b"10.0.0.5:5432")
    assert reg.lookup_value(b"primary") == b"10.0.0.5:5432"
    assert reg.lookup(b"primary") == [shmreg.Entry(b"primary", b"10.0.0.5:5432", os.getpid(), version)]
    assert reg.lookup_value(b"replica") is None
    assert reg.lookup(b"replica") == []


def test_lookup_values_answers_many_keys_in_order(client: shmreg.Client) -> None:
    reg = client.create_registry("many")
    for i in range(300):
        reg.register(b"k%d" % i, b"v%d" % i)
    keys = [b"k7", b"absent", b"k299", b"k7", b""] + [b"k%d" % i for i in range(300)]
    got = reg.lookup_values(keys)
    assert got[:5] == [b"v7", None, b"v299", b"v7", None]
    assert got[5:] == [b"v%d" % i for i in range(300)]
    assert reg.lookup_values([]) == []
    assert reg.lookup_values(["k1", "k2"]) == [b"v1", b"v2"]


def test_str_keys_and_values_are_taken_as_utf8(client: shmreg.Client) -> None:
    reg = client.create_registry("names")
    reg.register("café", "größe")
    assert reg.lookup_value("café".encode()) == "größe".encode()
    assert reg.lookup_value("café") == "größe".encode()


def test_values_that_are_not_utf8_round_trip_byte_for_byte(client: shmreg.Client) -> None:
    reg = client.create_registry("binary")
    value = bytes(range(256))
    key = b"\xff\x00\xfe"
    reg.register(key, value)
    assert reg.lookup_value(key) == value
    assert reg.lookup(key)[0].value == value
    assert reg.keys() == [key]


def test_a_value_longer_than_the_first_buffer_is_read_whole(client: shmreg.Client) -> None:
    reg = client.create_registry("long", max_value=4096, capacity=16)
    value = b"v" * 4000
    reg.register(b"k", value)
    assert reg.lookup_value(b"k") == value
    assert reg.lookup_value(b"k") == value


def test_count_keys_values_and_entries_read_the_whole_registry(client: shmreg.Client) -> None:
    reg = client.create_registry("pool", duplicate=True)
    reg.register(b"worker", b"a")
    reg.register(b"worker", b"b")
    reg.register(b"leader", b"c")
    assert reg.count() == 3
    assert sorted(reg.keys()) == [b"leader", b"worker", b"worker"]  # one per entry
    assert sorted(e.value for e in reg.values(b"worker")) == [b"a", b"b"]
    assert sorted((e.key, e.value) for e in reg.entries()) == [(b"leader", b"c"), (b"worker", b"a"), (b"worker", b"b")]


def test_match_selects_entries_by_their_json_value(client: shmreg.Client) -> None:
    reg = client.create_registry("jobs", duplicate=True)
    reg.register(b"job", b'{"state": "running"}')
    reg.register(b"job", b'{"state": "done"}')
    found = reg.match(b"job", '{"state": "done"}')
    assert [e.value for e in found] == [b'{"state": "done"}']


def test_a_registration_returns_only_once_another_process_sees_it(broker: Broker, client: shmreg.Client) -> None:
    reg = client.create_registry("svc")
    reg.register(b"api", b"hello")
    seen = broker.cli("lookup", "svc", "api")
    assert seen.returncode == 0, seen
    assert seen.stdout == f"{os.getpid()}\thello\n".encode()


def test_a_key_another_process_registers_is_found_by_lookup(broker: Broker, client: shmreg.Client) -> None:
    reg = client.create_registry("svc")
    holder = broker.spawn_cli("register", "svc", "cache", "from-cli", "--", "sleep", "600")
    try:
        assert wait_until(lambda: reg.lookup_value(b"cache") == b"from-cli")
        assert reg.lookup(b"cache")[0].pid == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_an_unknown_registry_is_registry_not_found_with_its_name(client: shmreg.Client) -> None:
    try:
        client.registry("nosuch")
    except shmreg.RegistryNotFound as e:
        assert e.code == 5
        assert e.name == "registry_not_found"
        assert "nosuch" in e.message
    else:
        raise AssertionError("opening an unknown registry succeeded")
