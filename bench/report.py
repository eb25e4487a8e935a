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
ORDER = {"ours": 0, "google": 1, "oath": 2, "permit": 3}
KINDS = {"accept": 0, "emergency": 1, "reject": 2}


def parse(path):
    results, floors, machine = defaultdict(list), defaultdict(list), ""
    for line in open(path):
        parts = shlex.split(line.strip())
        if not parts:
            continue
        kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if parts[0] == "MACHINE":
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
    scales = sorted({k[1] for k in results})
    floor = {n: med(f, "floor_p50_us") for n, f in floors.items()}
    p50 = {k: med(v, "p50_us") for k, v in results.items()}
    header = ["module", "users", "kind", "mode", "logins/s", "p50 us", "p99 us",
              "peak RSS KiB", "runs", "peer p50 / ours", "ours / floor", f"vs {fmt_scale(scales[0])}"]
    rows = []
    modes = {"inproc": 0, "process": 1, "process+libcrypto": 2, "process+sshd": 3}
    for key in sorted(results, key=lambda k: (modes.get(k[3], 3), k[1], KINDS[k[2]], ORDER[k[0]])):
        mod, n, kind, mode = key
        v = results[key]
        ours = p50.get(("ours", n, kind, mode))
        vs_peer = f"{p50[key] / ours:.2f}x" if mod != "ours" and ours else ""
        vs_floor = f"{p50[key] / floor[n]:.2f}x" if mod == "ours" and mode == "inproc" and n in floor and kind != "reject" else ""
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
    print()
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
    print()
    for n in sorted(floors):
        f = floors[n]
        inplace = f"in-place write + fdatasync p50 {med(f, 'inplace_p50_us'):.0f} us (p99 {med(f, 'inplace_p99_us'):.0f}), " \
            if "inplace_p50_us" in f[0] else ""
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
            target(f"accepted login <= 1.3x floor at {fmt_scale(n)}", a / floor[n] <= 1.3,
                   f"{a:.0f} us / {floor[n]:.0f} us = {a / floor[n]:.2f}x")
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

if __name__ == "__main__":
    main()
