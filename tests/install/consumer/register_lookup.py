"""A Python program using the installed shmreg package. It is the example of
docs/python.md; tests/python/test_example.py runs it against the build tree
and tests/install/install_test.sh against the installed tree.

It opens the namespace named by $SHMREG_NAMESPACE (and $SHMREG_SOCKET),
creates the registry "services", registers a key (argv[1], else "db") for
itself, looks it up, and watches it change. Exit status 0 means every read
saw what it wrote."""

import os
import sys

import shmreg

key = (sys.argv[1] if len(sys.argv) > 1 else "db").encode()

with shmreg.Client(timeout=5.0) as client:
    services = client.create_registry("services")
    version = services.register(key, b"10.0.0.5:5432")  # returns once every reader sees it

    # Lookups read shared memory: no call to the broker.
    assert services.lookup_value(key) == b"10.0.0.5:5432"
    assert services.lookup(key) == [shmreg.Entry(key, b"10.0.0.5:5432", os.getpid(), version)]

    with services.watch(key, timeout=1.0) as changes:
        services.set_value(key, b"10.0.0.6:5432", expected_version=version)
        event = next(iter(changes))
    assert event.type == shmreg.EventType.UPDATED

    try:
        services.set_value(key, b"stale", expected_version=version)
        sys.exit("a write at a stale version was applied")
    except shmreg.VersionConflict as e:
        print(f"refused as expected: {e}")

    print(f"{key.decode()} = {services.lookup_value(key)!r}")
