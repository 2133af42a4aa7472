#!/usr/bin/env python3
"""Summaries, ratios and acceptance bars of the shmreg benchmarks.

The benchmark binaries print only Google Benchmark output. This script reads
their JSON (--benchmark_out=FILE --benchmark_out_format=json, or
--benchmark_format=json on stdout) and prints what docs/benchmarks.md and
docs/benchmarks-e2e.md discuss: the ratios between cases measured in the same
run, and whether each bar is met.

    scripts/bench-check.py shm lookup.json    # shmreg-bench-shm
    scripts/bench-check.py e2e e2e.json       # shmreg-bench-e2e

With repetitions, each figure is the median over the repetitions. Bars are
reported, not enforced, and cases that reported an error (a failure, or a
peer that was not given) are listed at the end; the exit status is 0 unless
the file cannot be read (2).
"""

import argparse
import json
import re
import sys

# Name parts Google Benchmark appends to a case's own name.
_SUFFIX = re.compile(r"/(iterations:\d+|manual_time|real_time|process_time|repeats:\d+|min_time:[0-9.]+s?|threads:\d+)$")


def base_name(name):
    while True:
        stripped = _SUFFIX.sub("", name)
        if stripped == name:
            return name
        name = stripped


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else None


class Results:
    """The iteration runs of one JSON file, by case name."""

    def __init__(self, doc):
        self.context = doc.get("context", {})
        self.runs = {}
        self.errors = []
        for run in doc.get("benchmarks", []):
            if run.get("run_type", "iteration") != "iteration":
                continue
            name = base_name(run.get("run_name", run["name"]))
            if run.get("error_occurred"):
                self.errors.append((name, run.get("error_message", "")))
                continue
            self.runs.setdefault(name, []).append(run)

    def names(self):
        return sorted(self.runs)

    def time_ns(self, name):
        """The median CPU time per iteration, in ns."""
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}
        runs = self.runs.get(name, [])
        return median([r["cpu_time"] * scale[r.get("time_unit", "ns")] for r in runs])

    def counter(self, name, counter):
        return median([r[counter] for r in self.runs.get(name, []) if counter in r])

    def get(self, name, counter=None):
        return self.time_ns(name) if counter is None else self.counter(name, counter)


# -- Formatting --------------------------------------------------------------------------

def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


def fx(v):
    return "-" if v is None else "%.2fx" % v


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return None
    return a / b


def human(ns):
    if ns < 1e3:
        return "%.0f ns" % ns
    if ns < 1e6:
        return "%.1f us" % (ns / 1e3)
    if ns < 1e9:
        return "%.2f ms" % (ns / 1e6)
    return "%.2f s" % (ns / 1e9)


# -- shmreg-bench-shm ---------------------------------------------------------------------

SIZES = (1000, 100000, 1000000)
SETS = ("hit", "miss")


def shm_name(mode, n, s, churn):
    return "shm/%s/keys:%d/%s/%s" % (mode, n, s, "writer:churn" if churn else "writer:none")


def lmdb_name(mode, n, s):
    return "lmdb/%s/keys:%d/%s" % (mode, n, s)


def chase_name(timed, n, kind):
    return "%s/keys:%d/%s" % ("chase_lat" if timed else "chase", n, kind)


def batch_name(n, s, churn=False):
    return "shm/batch/keys:%d/%s/%s" % (n, s, "writer:churn" if churn else "writer:none")


def batch_per_key(rep, n, s, churn=False):
    """ns per key of SegmentReader::lookup_batch (its ns_per_key counter)."""
    return rep.get(batch_name(n, s, churn), "ns_per_key")


def shm_noise(rep):
    """Wall time over CPU time of the benchmark thread: (median, max)."""
    v = sorted(r["real_time"] / max(1e-9, r["cpu_time"]) for runs in rep.runs.values() for r in runs)
    return (v[len(v) // 2], v[-1]) if v else (1.0, 1.0)


def shm_table(rep, n):
    print("\n| lookup | ns/op independent | p50 | p99 | ns/op dependent chain | writer Mops/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for churn in (False, True):
        for s in SETS:
            lat = shm_name("lat", n, s, churn)
            tput = shm_name("tput", n, s, churn)
            print("| shm %s%s | %s | %s | %s | %s | %s |" % (
                s, ", churn writer" if churn else "", fmt(rep.get(tput)), fmt(rep.get(lat, "p50_ns")),
                fmt(rep.get(lat, "p99_ns")), fmt(rep.get(shm_name("chain", n, s, churn))),
                fmt(rep.get(tput, "writer_Mops_s"), "%.2f") if churn else ""))
    for churn in (False, True):
        for s in SETS:
            print("| shm %s, lookup_batch per key%s | %s | | | | |" % (
                s, ", churn writer" if churn else "", fmt(batch_per_key(rep, n, s, churn))))
    for s in SETS:
        lat = lmdb_name("lat", n, s)
        print("| LMDB %s | %s | %s | %s | %s | |" % (
            s, fmt(rep.get(lmdb_name("tput", n, s))), fmt(rep.get(lat, "p50_ns")), fmt(rep.get(lat, "p99_ns")),
            fmt(rep.get(lmdb_name("chain", n, s)))))
    c4, cl = chase_name(False, n, "lines-4k"), chase_name(True, n, "lines-4k")
    print("| pointer chase, lines, 4 KiB pages | %s | %s | %s | %s | |" % (
        fmt(rep.get(c4)), fmt(rep.get(cl, "p50_ns")), fmt(rep.get(cl, "p99_ns")), fmt(rep.get(c4))))
    c2 = chase_name(False, n, "lines-2m")
    print("| pointer chase, lines, 2 MiB pages (%s%% huge) | %s | | | %s | |" % (
        fmt(rep.get(c2, "huge_pct"), "%.0f"), fmt(rep.get(c2)), fmt(rep.get(c2))))
    for kind, what in (("pages-4k", "one line per 4 KiB page"), ("records3-4k", "3-line records, 4 KiB pages"),
                       ("records2-4k", "2-line records, 4 KiB pages")):
        c = chase_name(False, n, kind)
        print("| pointer chase, %s | %s | | | %s | |" % (what, fmt(rep.get(c)), fmt(rep.get(c))))
    print("| key synthesis only (harness) | %s | | | | |" % fmt(rep.get("harness/keys:%d/keygen" % n)))


def shm_ratios(rep, n):
    g = rep.get
    shm_t, shm_c = g(shm_name("tput", n, "hit", False)), g(shm_name("chain", n, "hit", False))
    shm_p50 = g(shm_name("lat", n, "hit", False), "p50_ns")
    shm_mt, shm_mp50 = g(shm_name("tput", n, "miss", False)), g(shm_name("lat", n, "miss", False), "p50_ns")
    c4, cl, r3 = chase_name(False, n, "lines-4k"), chase_name(True, n, "lines-4k"), chase_name(False, n, "records3-4k")
    model = g(c4) + g(r3) if g(c4) is not None and g(r3) is not None else None
    print("\nRatios:\n")
    print("- LMDB / shm, hit: independent %s, p50 %s, chain %s; vs lookup_batch per key %s" % (
        fx(ratio(g(lmdb_name("tput", n, "hit")), shm_t)), fx(ratio(g(lmdb_name("lat", n, "hit"), "p50_ns"), shm_p50)),
        fx(ratio(g(lmdb_name("chain", n, "hit")), shm_c)),
        fx(ratio(g(lmdb_name("tput", n, "hit")), batch_per_key(rep, n, "hit")))))
    print("- LMDB / shm, miss: independent %s, p50 %s" % (
        fx(ratio(g(lmdb_name("tput", n, "miss")), shm_mt)), fx(ratio(g(lmdb_name("lat", n, "miss"), "p50_ns"), shm_mp50))))
    print("- shm / pointer chase (lines, 4 KiB): hit chain %s, hit p50 %s, miss p50 %s" % (
        fx(ratio(shm_c, g(c4))), fx(ratio(shm_p50, g(cl, "p50_ns"))), fx(ratio(shm_mp50, g(cl, "p50_ns")))))
    print("- hit chain / (line chase + 3-line record chase) = %s / %s = %s" % (fmt(shm_c), fmt(model),
                                                                               fx(ratio(shm_c, model))))
    print("- churn writer / none: hit independent %s, hit p50 %s, hit chain %s, miss independent %s" % (
        fx(ratio(g(shm_name("tput", n, "hit", True)), shm_t)),
        fx(ratio(g(shm_name("lat", n, "hit", True), "p50_ns"), shm_p50)),
        fx(ratio(g(shm_name("chain", n, "hit", True)), shm_c)), fx(ratio(g(shm_name("tput", n, "miss", True)), shm_mt))))


def verdict(v, below, bar):
    if v is None:
        return "not measured"
    return "met" if (v < bar if below else v >= bar) else "NOT met"


def shm_bars(rep):
    """Issue 13's bars that this benchmark measures (client/reader and batched
    register against Redis come from shmreg-bench-e2e)."""
    g = rep.get
    hi = SIZES[-1]
    chain_hi = g(shm_name("chain", hi, "hit", False))
    chase_hi = g(chase_name(False, hi, "lines-4k"))
    c_ratio = ratio(chain_hi, chase_hi)
    print("\n### Bars\n")
    print("- %d keys, hit chain / line chase <= 1.3: %s / %s = %s -> %s" % (
        hi, fmt(chain_hi), fmt(chase_hi), fx(c_ratio), verdict(c_ratio, True, 1.3000001)))
    for n in SIZES:
        lm = ratio(g(lmdb_name("chain", n, "hit")), g(shm_name("chain", n, "hit", False)))
        print("- LMDB / shm, hit chain, %d keys >= 4: %s -> %s" % (n, fx(lm), verdict(lm, False, 4)))
    lb = ratio(g(lmdb_name("tput", hi, "hit")), batch_per_key(rep, hi, "hit"))
    print("- LMDB hit / lookup_batch per key, %d keys >= 10: %s -> %s" % (hi, fx(lb), verdict(lb, False, 10)))
    for n in SIZES:
        p99 = ratio(g(shm_name("lat", n, "hit", True), "p99_ns"), g(shm_name("lat", n, "hit", False), "p99_ns"))
        print("- hit p99 with the churn writer / without, %d keys <= 1.5: %s -> %s" % (
            n, fx(p99), verdict(p99, True, 1.5000001)))
    over = g(shm_name("tput", hi, "hit", False), "overhead_B_per_entry")
    print("- registry bytes per entry beyond key and value, %d keys <= 64 B: %s B -> %s" % (
        hi, fmt(over, "%.0f"), verdict(over, True, 64.0000001)))


def shm_summary(rep):
    ctx = rep.context
    print("\n## Summary (ns of benchmark-thread CPU time; medians over repetitions)\n")
    if "timer_ticks_per_ns" in ctx:
        tpns, step = float(ctx["timer_ticks_per_ns"]), float(ctx["timer_step_ticks"])
        print("Timer: %.4f ticks/ns, step %d ticks (%.1f ns), empty bracket %.1f ns (subtracted)." % (
            tpns, step, step / tpns, float(ctx["timer_overhead_ticks"]) / tpns))
    noise_med, noise_max = shm_noise(rep)
    print("Noise: wall/CPU time of the benchmark thread, median %.2f, max %.2f (1.00 = had the CPU throughout)." % (
        noise_med, noise_max))
    for n in SIZES:
        probes = (shm_name("tput", n, "hit", False), lmdb_name("tput", n, "hit"), chase_name(False, n, "lines-4k"),
                  "harness/keys:%d/keygen" % n)
        if all(rep.get(p) is None for p in probes):
            continue
        print("\n### %d keys\n" % n)
        shm_t = shm_name("tput", n, "hit", False)
        if rep.get(shm_t, "working_set_MiB") is not None:
            print("shm working set (record pool + one index buffer): %.1f MiB; segment %.1f MiB; churn keys %d." % (
                rep.get(shm_t, "working_set_MiB"), rep.get(shm_t, "segment_MiB"), rep.get(shm_t, "churn_keys")))
        lm = lmdb_name("tput", n, "hit")
        if rep.get(lm, "lmdb_page_size"):
            branch, leaf, page = (rep.get(lm, c) for c in ("lmdb_branch_pages", "lmdb_leaf_pages", "lmdb_page_size"))
            print("LMDB: depth %d, %d branch + %d leaf pages of %d B = %.1f MiB." % (
                rep.get(lm, "lmdb_depth"), branch, leaf, page, (branch + leaf) * page / 1048576.0))
        shm_table(rep, n)
        shm_ratios(rep, n)
    shm_bars(rep)


# -- shmreg-bench-e2e ---------------------------------------------------------------------

PLACEMENTS = ("any", "same", "split")


class E2e:
    """Cases by their name without the "e2e/" prefix, as the summary names them."""

    def __init__(self, rep):
        self.rep = rep
        self.keys = {n[len("e2e/"):]: n for n in rep.names() if n.startswith("e2e/")}

    def find(self, key, p50="p50_ns", p99="p99_ns"):
        """{n, p50, p99, max} of a case, or of a sub-series kept as counters; None if absent."""
        name = self.keys.get(key)
        if name is None or self.rep.counter(name, p50) is None:
            return None
        runs = self.rep.runs[name]
        return {"n": sum(r["iterations"] for r in runs), "p50": self.rep.counter(name, p50),
                "p99": self.rep.counter(name, p99), "max": self.rep.counter(name, "max_ns")}

    def placements(self):
        return [p for p in PLACEMENTS if any(k.endswith("/" + p) or ("/%s/" % p) in k for k in self.keys)]


def e2e_tables(e):
    clock = next((e.rep.counter(n, "clock_ns") for n in e.keys.values() if e.rep.counter(n, "clock_ns")), None)
    clock = clock if clock is not None else e.rep.context.get("clock_overhead_ns")
    print("\n== shmreg-bench-e2e: per-operation samples of this run ==")
    if clock is not None:
        print("(every sample includes one clock pair, %d ns)" % float(clock))
    print("%-44s %8s %11s %11s %11s" % ("case", "n", "p50", "p99", "max"))
    for key in sorted(e.keys):
        s = e.find(key)
        if s:
            print("%-44s %8d %11s %11s %11s" % (key, s["n"], human(s["p50"]), human(s["p99"] or 0), human(s["max"] or 0)))
    cpu = [k for k in sorted(e.keys) if e.rep.counter(e.keys[k], "cli_cpu_ns") is not None]
    if cpu:
        print("\nCPU time per operation (kernel accounting; the client's includes the clock reads):")
        print("%-34s %11s %11s %11s %9s %9s" % ("case", "client cpu", "server cpu", "server wait", "cli runs", "srv runs"))
        for k in cpu:
            c = lambda name: e.rep.counter(e.keys[k], name)
            print("%-34s %11s %11s %11s %9.2f %9.2f" % (k, human(c("cli_cpu_ns")), human(c("srv_cpu_ns")),
                                                     human(c("srv_wait_ns")), c("cli_runs"), c("srv_runs")))


def e2e_round_trips(e, sp):
    ok = lambda good: "MET" if good else "MISSED"
    for lk in ("lookup/value", "lookup/view"):
        lookup = e.find(lk)
        net = e.find(lk, p50="batch_mean_ns")
        for peer in ("redis/GET/", "dbus/GetNameOwner/"):
            q = e.find(peer + sp)
            if not lookup or not q:
                continue
            r = q["p50"] / lookup["p50"]
            line = "[lookup x1000]   %s%s / %s = %.0fx (%s vs %s)" % (peer, sp, lk, r, human(q["p50"]), human(lookup["p50"]))
            if net:
                line += "; without the clock pair %.0fx" % (q["p50"] / max(net["p50"], 1.0))
            print(line + "   " + ok(r >= 1000))
    reg, raw = e.find("register/client_api/" + sp), e.find("raw_rt/echo/" + sp)
    shaped, ping = e.find("raw_rt/shaped/" + sp), e.find("ping/client_api/" + sp)
    if reg and raw:
        r = reg["p50"] / raw["p50"]
        print("[register 1.3x]  register %s / raw echo %s = %.2fx (%s vs %s)   %s" % (
            sp, sp, r, human(reg["p50"]), human(raw["p50"]), ok(r <= 1.3)))
        if shaped:
            print("                 shaped echo / raw echo = %.2fx" % (shaped["p50"] / raw["p50"]))
        lean = e.find("raw_rt/lean/" + sp)
        if lean:
            print("                 lean echo / raw echo = %.2fx" % (lean["p50"] / raw["p50"]))
        if ping:
            print("                 ping / raw echo = %.2fx" % (ping["p50"] / raw["p50"]))
            print("                 register - ping = %s" % human(reg["p50"] - ping["p50"]))
    send = e.find("send_rt/client_api/" + sp)
    if send and raw:
        line = "[send by name]   send+echo %s: p50 %s, p99 %s; / raw echo = %.2fx" % (
            sp, human(send["p50"]), human(send["p99"]), send["p50"] / raw["p50"])
        if ping:
            line += "; / ping = %.2fx" % (send["p50"] / ping["p50"])
        call = e.find("dbus/MethodCall/" + sp)
        if call:
            line += "; D-Bus method call %s / send+echo = %.2fx" % (human(call["p50"]), call["p50"] / send["p50"])
        print(line)
    for peer in ("redis/SET/", "dbus/RequestName/"):
        q = e.find(peer + sp)
        if reg and q:
            print("                 %s%s / register %s = %.2fx" % (peer, sp, sp, q["p50"] / reg["p50"]))


def broker_line(e, key, what):
    cpu, wait = e.find(key, p50="brk_cpu_ns"), e.find(key, p50="brk_wait_ns", p99="brk_wait_p99_ns")
    if cpu and wait:
        print("                 broker CPU per %s p50 %s; broker runnable but waiting p50 %s, p99 %s" % (
            what, human(cpu["p50"]), human(wait["p50"]), human(wait["p99"] or 0)))


def e2e_deaths(e):
    ok = lambda good: "MET" if good else "MISSED"
    for rk in ("reap/broker/any", "reap/broker/split"):
        r = e.find(rk)
        if r:
            print("[reap p99 < 1ms] %s: p50 %s, p99 %s   %s" % (rk, human(r["p50"]), human(r["p99"]), ok(r["p99"] < 1e6)))
            broker_line(e, rk, "reap")
    for floor in ("reap/broker/any/rss64M", "reap_floor/pidfd_poll", "reap_floor/pidfd_poll/rss64M",
                  "reap_floor/pidfd_watcher/any", "reap_floor/pidfd_watcher/split"):
        f = e.find(floor)
        if f:
            print("                 %s: p50 %s, p99 %s" % (floor, human(f["p50"]), human(f["p99"])))
    # A handover is a reap plus one promotion in the owner queue: against the
    # reap of the same placement, measured the same way (spin) and as a
    # reader following the key sees it (watcher, futex-woken).
    for rk in ("reap/broker/any", "reap/broker/split"):
        hk = "handover/broker/" + rk.rsplit("/", 1)[1]
        r = e.find(rk)
        for k in (hk, hk + "/spin"):
            h = e.find(k)
            if not h:
                continue
            line = "[handover]       %s: p50 %s, p99 %s" % (k, human(h["p50"]), human(h["p99"]))
            if r:
                line += "; / %s = %.2fx p50, %.2fx p99" % (rk, h["p50"] / r["p50"], h["p99"] / r["p99"])
            print(line)
            broker_line(e, k, "handover")
    for mk in ("mass_death/client_api", "mass_death/cli_exec"):
        m = e.find(mk)
        if not m:
            continue
        print("[mass < 100ms]   %s: %d rounds, p50 %s, worst %s   %s" % (
            mk, m["n"], human(m["p50"]), human(m["max"]), ok(m["max"] < 1e8)))
        c = lambda name: e.rep.counter(e.keys[mk], name)
        if c("kill_ns") is not None and c("brk_cpu_ns") is not None and c("brk_wait_ns") is not None:
            print("                 kill(-pgid) returned after %s; broker CPU %s (%s per owner), "
                  "broker runnable but waiting %s (p50s)" % (human(c("kill_ns")), human(c("brk_cpu_ns")),
                                                             human(c("brk_cpu_ns") / max(c("owners") or 1, 1)),
                                                             human(c("brk_wait_ns"))))
    f = e.find("mass_death_floor/pidfd")
    if f:
        print("                 mass_death_floor/pidfd: p50 %s, worst %s" % (human(f["p50"]), human(f["max"])))


def e2e_summary(rep):
    e = E2e(rep)
    e2e_tables(e)
    print("\n== ratios and bars (p50 unless said) ==")
    for sp in e.placements():
        e2e_round_trips(e, sp)
    e2e_deaths(e)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench", choices=("shm", "e2e"), help="which binary wrote the results")
    ap.add_argument("results", help="Google Benchmark JSON output ('-' for stdin)")
    args = ap.parse_args()
    try:
        doc = json.load(sys.stdin if args.results == "-" else open(args.results))
    except (OSError, ValueError) as err:
        print("bench-check.py: cannot read %s: %s" % (args.results, err), file=sys.stderr)
        return 2
    rep = Results(doc)
    shm_summary(rep) if args.bench == "shm" else e2e_summary(rep)
    if rep.errors:
        print("\nCases that reported an error (skipped):")
    for name, message in rep.errors:
        print("- %s: %s" % (name, message))
    return 0


if __name__ == "__main__":
    sys.exit(main())
