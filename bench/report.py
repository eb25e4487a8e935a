#!/usr/bin/env python3
"""Summarise bench/run.sh's results.txt: medians over the runs, one row per
(module, scale, kind, mode), ratios against the peers measured in the same
run, the floor, and the issue's targets.

    report.py RESULTS [--markdown]
"""
import shlex
import statistics
import sys
from collections import defaultdict

PEERS = ("google", "oath")
ORDER = {"ours": 0, "google": 1, "oath": 2, "permit": 3, "floor": 4}
KINDS = {"accept": 0, "emergency": 1, "reject": 2}


PG = {"results": defaultdict(list), "steps": defaultdict(list), "notes": [], "machine": {}}


def parse(path):
    results, floors, machine = defaultdict(list), defaultdict(list), ""
    for line in open(path):
        parts = shlex.split(line.strip())
        if not parts:
            continue
        kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if parts[0] == "MACHINE" and "postgresql" in kv:
            PG["machine"] = kv
        elif parts[0] == "PGNOTE":
            PG["notes"].append(line.strip()[len("PGNOTE "):])
        elif parts[0] in ("RESULT", "PGHOSTS") and kv.get("store") == "pg":
            key = (kv["conn"], int(kv["scale"]), kv.get("kind", "accept"), int(kv.get("hosts", 1)))
            PG["results"][key].append(kv)
        elif parts[0] == "PGSTEP":
            PG["steps"][(kv["conn"], int(kv["scale"]), kv["fresh"])].append(kv)
        elif parts[0] == "MACHINE":
            machine = kv
        elif parts[0] == "FLOOR":
            floors[int(kv["scale"])].append(kv)
        elif parts[0] == "RESULT":
            key = (kv["module"], int(kv["scale"]), kv["kind"], kv["mode"])
            results[key].append(kv)
    return results, floors, machine


def med(rows, field):
    return statistics.median(float(r[field]) for r in rows)


def fmt_scale(n):
    return f"{n // 1000000}M" if n % 1000000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main():
    md = "--markdown" in sys.argv
    results, floors, machine = parse(sys.argv[1])
    if not results:             # bench/pg_bench.sh's lines alone
        pg_report({}, md)
        return
    scales = sorted({k[1] for k in results})
    floor = {n: med(f, "floor_p50_us") for n, f in floors.items()}
    p50 = {k: med(v, "p50_us") for k, v in results.items()}
    header = ["module", "users", "kind", "mode", "logins/s", "p50 us", "p99 us",
              "peak RSS KiB", "runs", "peer p50 / ours", "ours / floor", f"vs {fmt_scale(scales[0])}"]
    rows = []
    modes = {"inproc": 0, "inproc-first": 1, "process": 2, "process+libcrypto": 3, "process+sshd": 4}
    for key in sorted(results, key=lambda k: (modes.get(k[3], 3), k[1], KINDS[k[2]], ORDER[k[0]])):
        mod, n, kind, mode = key
        v = results[key]
        ours = p50.get(("ours", n, kind, mode))
        vs_peer = f"{p50[key] / ours:.2f}x" if mod not in ("ours", "floor") and ours else ""
        vs_floor = f"{p50[key] / floor[n]:.2f}x" if mod in ("ours", "floor") and mode == "inproc" and n in floor and kind != "reject" else ""
        if mod == "ours" and kind == "reject" and mode == "inproc" and ("permit", n, "accept", "inproc") in p50:
            vs_floor = f"+{p50[key] - p50[('permit', n, 'accept', 'inproc')]:.0f} us over pam_permit"
        base = p50.get((mod, scales[0], kind, mode))
        vs_small = f"{p50[key] / base:.2f}x" if base and n != scales[0] else ""
        bad = sum(1 for r in v if r.get("errors", "0") != "0" or
                  (r["ok"] != "0" if kind == "reject" else r["ok"] != r["logins"]))
        rows.append([mod, fmt_scale(n), kind, mode, f"{med(v, 'logins_s'):.0f}",
                     f"{p50[key]:.0f}", f"{med(v, 'p99_us'):.0f}", f"{med(v, 'rss_kb'):.0f}",
                     f"{len(v)}" + (f" ({bad} bad)" if bad else ""), vs_peer, vs_floor, vs_small])
    if machine:
        print(f"Machine: {machine.get('nproc')} cores, {machine.get('cpu')}, {machine.get('fs')}, "
              f"Linux {machine.get('kernel')}, {machine.get('date')}")
    print("Medians over runs.  peer p50 / ours > 1: we are faster.  floor = pwrite + fdatasync of one block + window HMACs.")
    print("inproc: the second visit of each user in the run (an untimed pass of rejected logins over the same users\n"
          "comes first); inproc-first: that first pass, the users' files as the generator left them (at 1M the\n"
          "kernel does not keep them all in memory); process modes visit other users, once.")
    print()
    table(header, rows, md)
    print()
    for n in sorted(floors):
        f = floors[n]
        inplace = f"in-place write + fdatasync p50 {med(f, 'inplace_p50_us'):.0f} us (p99 {med(f, 'inplace_p99_us'):.0f}), " \
            if "inplace_p50_us" in f[0] else ""
        if "perfile_p50_us" in f[0]:
            inplace = f"in-place write + fdatasync, another file each time (as logins) p50 " \
                f"{med(f, 'perfile_p50_us'):.0f} us (p99 {med(f, 'perfile_p99_us'):.0f}), " \
                f"the same into one file over and over p50 {med(f, 'inplace_p50_us'):.0f} us, "
        print(f"floor at {fmt_scale(n)}: {inplace}old floor (temp file, fsync, rename, folder fsync) p50 "
              f"{med(f, 'write_p50_us'):.0f} us (p99 {med(f, 'write_p99_us'):.0f}), HMACs of one window "
              f"{med(f, 'hmac_window_p50_us'):.1f} us; floor {floor[n]:.0f} us")
    print()
    print("Targets (in-process p50):")
    big, small = scales[-1], scales[0]

    def target(name, ok, detail):
        print(f"  [{'met' if ok else 'MISSED'}] {name}: {detail}")

    for kind in ("accept", "emergency", "reject"):
        a, b = p50.get(("ours", big, kind, "inproc")), p50.get(("ours", small, kind, "inproc"))
        if a and b and big != small:
            target(f"{fmt_scale(big)} within 1.2x of {fmt_scale(small)} ({kind})", a / b <= 1.2, f"{a / b:.2f}x")
    for n in scales:
        a = p50.get(("ours", n, "accept", "inproc"))
        if a and n in floor:
            fm = p50.get(("floor", n, "accept", "inproc"))
            target(f"accepted login <= 1.3x floor at {fmt_scale(n)}", a / floor[n] <= 1.3,
                   f"{a:.0f} us / {floor[n]:.0f} us = {a / floor[n]:.2f}x" +
                   (f"; the floor as a PAM module (bench/pam_floor.c: framework, open, pwrite, fdatasync, close, "
                    f"no check at all) {fm:.0f} us = {fm / floor[n]:.2f}x, so ours is {a / fm:.2f}x that" if fm else ""))
        r, pp = p50.get(("ours", n, "reject", "inproc")), p50.get(("permit", n, "accept", "inproc"))
        if r and pp:
            target(f"rejected login: the module's own cost <= 50 us at {fmt_scale(n)}", r - pp <= 50,
                   f"{r:.0f} us - pam_permit stack {pp:.0f} us = {r - pp:.0f} us")
        for kind in ("accept", "emergency"):
            o, g = p50.get(("ours", n, kind, "inproc")), p50.get(("google", n, kind, "inproc"))
            if o and g:
                target(f"<= 0.8x pam_google_authenticator at {fmt_scale(n)} ({kind})", o <= 0.8 * g,
                       f"ours {o:.0f} us, google {g:.0f} us = {o / g:.2f}x")
        o, g = p50.get(("ours", n, "reject", "inproc")), p50.get(("google", n, "reject", "inproc"))
        if o and g:
            target(f"faster than pam_google_authenticator at {fmt_scale(n)} (reject)", o < g,
                   f"ours {o:.0f} us, google {g:.0f} us")
        for kind in ("accept", "reject"):
            o, g = p50.get(("ours", n, kind, "process+libcrypto")), p50.get(("google", n, kind, "process+libcrypto"))
            if o and g:
                target(f"whole process with libcrypto preloaded <= google at {fmt_scale(n)} ({kind})", o <= g,
                       f"ours {o:.0f} us, google {g:.0f} us")
            o, g = p50.get(("ours", n, kind, "process+sshd")), p50.get(("google", n, kind, "process+sshd"))
            if o and g:
                target(f"whole process with libcrypto loaded and initialised, as under sshd, <= google at "
                       f"{fmt_scale(n)} ({kind})", o <= g, f"ours {o:.0f} us, google {g:.0f} us")
            x = p50.get(("oath", n, kind, "inproc"))
            o = p50.get(("ours", n, kind, "inproc"))
            if o and x and n >= 100000:
                target(f">= 10x faster than pam_oath at {fmt_scale(n)} ({kind})", x / o >= 10,
                       f"{x / o:.1f}x")
    pg_report(p50, md)


def table(header, rows, md):
    if md:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w[i]) for i, h in enumerate(header)))
        for r in rows:
            print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))


def pg_report(file_p50, md):
    """The PostgreSQL store (bench/pg_bench.sh), beside the file store and
    the peers of the same run (in-process p50 at the same scale)."""
    print()
    for note in PG["notes"]:
        print(f"PostgreSQL store: {note}")
    res, steps = PG["results"], PG["steps"]
    if not res:
        return
    m = PG["machine"]
    print(f"The PostgreSQL store (bench/pg_bench.sh): PostgreSQL {m.get('postgresql')}, "
          f"shared_preload_libraries={m.get('preload')}, shared_buffers {m.get('shared_buffers')}, "
          f"synchronous_commit {m.get('sync')}, "
          f"one connection per login except pool.  Medians over runs.")
    print("unix: the server's unix socket; tls: TCP+TLS to 127.0.0.1, verify-full, client certificate; "
          "pool: pgbouncer (transaction mode) on a unix socket.  hosts 8: 8 processes at once, "
          "logins/s their sum, p50 the median host's.")
    print()
    conns = {"unix": 0, "tls": 1, "pool": 2}
    scales = sorted({k[1] for k in res})
    p50 = {k: med(v, "p50_us") for k, v in res.items()}
    header = ["conn", "profiles", "kind", "hosts", "logins/s", "p50 us", "p99 us", "runs",
              "file store p50 us", "google p50 us", f"vs {fmt_scale(scales[0])}"]
    rows = []
    for key in sorted(res, key=lambda k: (conns.get(k[0], 9), k[1], k[3], KINDS.get(k[2], 9))):
        conn, n, kind, hosts = key
        v = res[key]
        bad = sum(1 for r in v if r.get("errors", "0") != "0" or
                  (r["ok"] != "0" if kind == "reject" else r["ok"] != r["logins"]))
        base = p50.get((conn, scales[0], kind, hosts))
        ours, ga = file_p50.get(("ours", n, kind, "inproc")), file_p50.get(("google", n, kind, "inproc"))
        rows.append([conn, fmt_scale(n), kind, str(hosts), f"{med(v, 'logins_s'):.0f}",
                     f"{p50[key]:.0f}", f"{med(v, 'p99_us'):.0f}" if "p99_us" in v[0] else "",
                     f"{len(v)}" + (f" ({bad} bad)" if bad else ""),
                     f"{ours:.0f}" if ours else "", f"{ga:.0f}" if ga else "",
                     f"{p50[key] / base:.2f}x" if base and n != scales[0] else ""])
    table(header, rows, md)
    if steps:
        print()
        print("Where a login's time goes (pgbench, the module's statements sent one by one, a wrong "
              "code; ms, medians): fresh = a new connection per login, as the module; warm = one "
              "connection.  commit: the charge's, which waits for the WAL flush.")
        print()
        header = ["conn", "profiles", "connect", "login_begin", "login_charge", "commit",
                  "login_verdict", "total", "runs"]
        rows = []
        for key in sorted(steps, key=lambda k: (k[2] == "0", {"unix": 0, "tcp": 1, "tls": 2}.get(k[0], 9), k[1])):
            conn, n, fresh = key
            v = steps[key]

            def f(field):
                vals = [float(r[field]) for r in v if r.get(field, "") not in ("", None)]
                return f"{statistics.median(vals):.2f}" if vals else ""
            rows.append([conn + ("" if fresh == "1" else " (warm)"), fmt_scale(n),
                         f("connect_ms") if fresh == "1" else "-", f("begin_ms"), f("charge_ms"),
                         f("commit_ms"), f("verdict_ms"),
                         f("total_ms") if fresh == "1" else "", str(len(v))])
        table(header, rows, md)
    print()
    print("Targets (PostgreSQL store, in-process p50):")

    def target(name, ok, detail):
        print(f"  [{'met' if ok else 'MISSED'}] {name}: {detail}")
    for n in scales:
        a = p50.get(("pool", n, "accept", 8))
        if a:
            target(f"accepted login through pgbouncer, 8 hosts, <= 1.5 ms p50 at {fmt_scale(n)}",
                   a <= 1500, f"{a / 1000:.2f} ms")
        s8 = res.get(("pool", n, "accept", 8))
        if s8:
            rate = med(s8, "logins_s")
            target(f"accepted logins through pgbouncer, 8 hosts, >= 1,000/s at {fmt_scale(n)}",
                   rate >= 1000, f"{rate:.0f}/s")
        a = p50.get(("unix", n, "accept", 8))
        if a:
            target(f"accepted login direct (unix socket, a connection per login), 8 hosts, "
                   f"<= 8 ms p50 at {fmt_scale(n)}", a <= 8000, f"{a / 1000:.2f} ms")
    for conn in ("unix", "pool"):
        for n in scales:
            a = p50.get((conn, n, "accept", 1))
            if a:
                target(f"accepted login over {'the unix socket' if conn == 'unix' else 'pgbouncer'} "
                       f"<= 3 ms at {fmt_scale(n)}", a <= 3000, f"{a / 1000:.2f} ms")
        a, b = p50.get((conn, scales[-1], "accept", 1)), p50.get((conn, scales[0], "accept", 1))
        if a and b and len(scales) > 1:
            target(f"accepted login over {conn}: {fmt_scale(scales[-1])} within 1.2x of "
                   f"{fmt_scale(scales[0])}", a / b <= 1.2, f"{a / b:.2f}x")

if __name__ == "__main__":
    main()
