"""A Python lookup through the shmreg package against redis-py's GET, on the
same machine in the same run (scripts/bench-python.sh starts both servers).

Keys are drawn uniformly at random from the whole key set into an array built
before timing starts; each case walks that array in a timed loop (timeit
style: one perf_counter_ns pair around many iterations), and reports the
median of its repetitions in nanoseconds per operation. Two floors frame the
figures: the same loop calling nothing (the loop's own cost) and a dict.get
(the cheapest lookup Python has).

    python3 lookup_bench.py --namespace NS --socket SOCK [--redis-socket PATH]
                            [--keys N] [--iterations N] [--repeat N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from typing import Callable

import shmreg


def timed_loop(fn: Callable[[bytes], object], keys: list[bytes]) -> float:
    start = time.perf_counter_ns()
    for k in keys:
        fn(k)
    return (time.perf_counter_ns() - start) / len(keys)


def median_ns(fn: Callable[[bytes], object], keys: list[bytes], repeat: int) -> float:
    timed_loop(fn, keys[: min(len(keys), 10000)])  # warm up: caches, lazy allocations
    return statistics.median(timed_loop(fn, keys) for _ in range(repeat))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--namespace", required=True)
    p.add_argument("--socket", required=True)
    p.add_argument("--redis-socket")
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--iterations", type=int, default=200000)
    p.add_argument("--repeat", type=int, default=7)
    a = p.parse_args()

    names = [f"service-{i:07d}".encode() for i in range(a.keys)]
    values = {k: b"10.0.%d.%d:5432" % (i // 256 % 256, i % 256) for i, k in enumerate(names)}
    rng = random.Random(12)
    drawn = [names[rng.randrange(a.keys)] for _ in range(a.iterations)]

    client = shmreg.Client(a.namespace, a.socket)
    reg = client.create_registry("bench-python", capacity=max(a.keys, 1024))
    for k in names:
        reg.register(k, values[k])
    assert all(reg.lookup_value(k) == values[k] for k in names[:100])

    cases: list[tuple[str, Callable[[bytes], object]]] = [
        ("empty loop (floor)", lambda k: None),
        ("dict.get (floor)", values.get),
        ("shmreg Registry.lookup_value", reg.lookup_value),
        ("shmreg Registry.lookup", reg.lookup),
    ]
    redis_iterations = min(a.iterations, 50000)
    if a.redis_socket:
        import redis  # python3-redis; only the benchmark needs it

        r = redis.Redis(unix_socket_path=a.redis_socket)
        r.flushall()
        pipe = r.pipeline(transaction=False)
        for k in names:
            pipe.set(k, values[k])
        pipe.execute()
        assert r.get(names[0]) == values[names[0]]
        cases.append(("redis-py GET (Unix socket)", r.get))

    print(f"python {sys.version.split()[0]}, {a.keys} keys, values {len(values[names[-1]])} bytes, "
          f"median of {a.repeat} repetitions")
    print(f"{'case':<34}{'ns/op':>12}{'iterations':>12}")
    results = {}
    for name, fn in cases:
        keys = drawn[:redis_iterations] if name.startswith("redis") else drawn
        results[name] = median_ns(fn, keys, a.repeat)
        print(f"{name:<34}{results[name]:>12.0f}{len(keys):>12}")
    if "redis-py GET (Unix socket)" in results:
        ratio = results["redis-py GET (Unix socket)"] / results["shmreg Registry.lookup_value"]
        print(f"redis-py GET / shmreg lookup_value: {ratio:.1f}x")
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
