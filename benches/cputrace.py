#!/usr/bin/env python3
"""CPU use over time of one command: every 0.1 s, the command's own CPU
(p, % of one core, all threads) and the whole machine's busy share (s) and
steal (st), both in % of one core (200 = both cores of this machine busy).

    python3 benches/cputrace.py target/release/backup -d REPO save -n t DIR

Shows whether a run is CPU-bound throughout, waits somewhere, or leaves a
core idle at some stage (e.g. a single-threaded tail)."""
import os
import subprocess
import sys
import time


def machine():
    v = list(map(int, open("/proc/stat").readline().split()[1:]))
    return sum(v), v[3] + v[4], v[7]  # total, idle + iowait, steal


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ncpu = os.cpu_count() or 1
    tick = os.sysconf("SC_CLK_TCK")
    t0 = time.time()
    p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last_cpu, last_t, last_m, rows = 0.0, t0, machine(), []
    while p.poll() is None:
        time.sleep(0.1)
        try:
            f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            break
        cpu = (int(f[11]) + int(f[12])) / tick
        now, m = time.time(), machine()
        total = (m[0] - last_m[0]) or 1
        busy = (total - (m[1] - last_m[1])) * 100 * ncpu / total
        steal = (m[2] - last_m[2]) * 100 * ncpu / total
        rows.append(f"{now - t0:5.1f}s p{(cpu - last_cpu) / (now - last_t) * 100:4.0f}"
                    f" s{busy:4.0f} st{steal:3.0f}")
        last_cpu, last_t, last_m = cpu, now, m
    p.wait()
    print(f"exit {p.returncode}, {time.time() - t0:.2f} s")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
