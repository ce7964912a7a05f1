#!/usr/bin/env python3
"""Whole-run comparison of backup against bup, restic and borg.

Usage: benches/compare.py [--work DIR] [--tools backup,bup,restic,borg]
                          [--datasets tree,bigfile,dump] [--repeat N]
                          [--quick] [--keep]

For each dataset (generated deterministically by examples/gen_dataset.rs
with a fixed seed, outside the source tree) and each tool, four steps are
timed with /usr/bin/time -v: the initial save, a save with no change, a
save after the mutation (tree: ~1 % of files changed; bigfile: 50 small
inserts/deletes; dump: the next day's dump), and a full restore of the
newest save, which is then compared byte for byte with the source (diff -r).
Recorded per step: wall time, CPU time (user+sys), peak RSS, repository
size and bytes added. Every tool runs the sequence --repeat times (default
3), each time into a fresh repository; the table gives the median of each
figure. A missing peer tool is skipped with a printed notice. Results (all
samples and medians) go to WORK/results.json and WORK/results.md and are
printed.

All tools read from the page cache (the data was just generated) and write
to the same filesystem; each run is alone on the machine. Before every timed
step the script syncs (so one tool's writeback is not billed to the next) and
after generating or mutating data it waits SETTLE seconds: a real nightly
save never sees files written milliseconds earlier, and tools that distrust
very recent timestamps (backup, bup, git) would otherwise re-read them.
Restores go to a fresh ext4 filesystem (with a journal, image in /dev/shm,
loop-mounted; needs root), one per dataset; without root they go to WORK and
are kept until the dataset is done. The reason: ext4 without a journal (this
machine's root filesystem) skips inodes freed in the last 60-360 s when it
allocates new ones, one buffer lookup per skipped inode, so whoever creates
100k files right after 100k were deleted pays seconds of system time for
someone else's cleanup (the same restore took 13.8 s instead of 2.4 s;
perf: ext4 recently_deleted()). A tmpfs does not do: bup restore fails there
(chattr is not supported).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 20261121
SETTLE = 3


def sh(cmd, env=None, cwd=None, check=True, capture=False):
    r = subprocess.run(cmd, env=env, cwd=cwd, text=True,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        sys.exit(f"compare: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return r


def du(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def timed(cmd, env, work, cwd=None):
    """Run cmd under /usr/bin/time -v; return wall, cpu, rss_kb."""
    os.sync()
    out = os.path.join(work, "time.txt")
    full = ["/usr/bin/time", "-v", "-o", out] + cmd
    start = time.monotonic()
    r = subprocess.run(full, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - start
    if r.returncode != 0:
        sys.exit(f"compare: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    stats = {}
    with open(out) as f:
        for line in f:
            k, _, v = line.strip().rpartition(": ")
            stats[k] = v
    cpu = float(stats["User time (seconds)"]) + float(stats["System time (seconds)"])
    rss = int(stats["Maximum resident set size (kbytes)"])
    return wall, cpu, rss


# Each tool: how to init, save, restore. `src` is a directory to save.
class Tool:
    def __init__(self, name, work, rep=0):
        self.name = name
        self.repo = os.path.join(work, f"repo-{name}-{rep}")
        self.env = dict(os.environ, TZ="UTC", HOME=work)
        self.backup = os.path.join(ROOT, "target", "release", "backup")

    def init(self):
        shutil.rmtree(self.repo, ignore_errors=True)
        if self.name == "backup":
            sh([self.backup, "-d", self.repo, "init"])
        elif self.name == "bup":
            self.env["BUP_DIR"] = self.repo
            sh(["bup", "init"], env=self.env)
        elif self.name == "restic":
            self.env["RESTIC_PASSWORD"] = "compare"
            self.env["RESTIC_CACHE_DIR"] = self.repo + "-cache"
            sh(["restic", "-q", "init", "-r", self.repo], env=self.env)
        elif self.name == "borg":
            self.env["BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK"] = "yes"
            self.env["BORG_BASE_DIR"] = self.repo + "-base"
            sh(["borg", "init", "-e", "none", self.repo], env=self.env)
        self.n = 0

    def save_cmd(self, src):
        self.n += 1
        if self.name == "backup":
            return [self.backup, "-d", self.repo, "save", "-n", "cmp", src]
        if self.name == "bup":
            # index + save is what a bup user runs for every backup.
            return ["sh", "-c", f'bup index "{src}" && bup save -n cmp "{src}"']
        if self.name == "restic":
            return ["restic", "-q", "-r", self.repo, "backup", src]
        if self.name == "borg":
            return ["borg", "create", f"{self.repo}::s{self.n}", src]

    def restore_cmd(self, src, out):
        """Command, and where the copy of `src` appears."""
        if self.name == "backup":
            return [self.backup, "-d", self.repo, "restore", "-C", out, f"cmp/latest{src}/"], out
        if self.name == "bup":
            return ["bup", "restore", "-C", out, f"cmp/latest{src}/"], out
        if self.name == "restic":
            return ["restic", "-q", "-r", self.repo, "restore", "latest", "--target", out], out + src
        if self.name == "borg":
            return ["sh", "-c", f'mkdir -p "{out}" && cd "{out}" && borg extract "{self.repo}::s{self.n}"'], out + src

    def size(self):
        return du(self.repo)


def available(name):
    return shutil.which("bup" if name == "bup" else name) is not None


def restore_fs(work, need):
    """Mount a fresh ext4 filesystem (with a journal; image in /dev/shm) for
    the restores of one dataset. Returns (directory, cleanup) or (None, None)
    when that is not possible (not root, no loop devices, no room)."""
    img = "/dev/shm/backup-compare.img"
    mnt = os.path.join(work, "restore-mnt")
    try:
        st = os.statvfs("/dev/shm")
        size = int(need * 1.3) + (512 << 20)
        if os.geteuid() != 0 or st.f_bavail * st.f_frsize < size + (1 << 30):
            return None, None
        if os.path.ismount(mnt):
            subprocess.run(["umount", mnt], check=False)
        with open(img, "wb") as f:
            f.truncate(size)
        os.makedirs(mnt, exist_ok=True)
        # No lazy inode-table init: its kernel thread would compete with
        # whichever restore runs first on the fresh filesystem.
        sh(["mkfs.ext4", "-F", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", img])
        sh(["mount", "-o", "loop", img, mnt])
    except (OSError, SystemExit) as e:
        print(f"compare: NOTICE: cannot mount a scratch ext4 for restores ({e}); restoring into {work}",
              flush=True)
        if os.path.exists(img):
            os.remove(img)
        return None, None

    def cleanup():
        subprocess.run(["umount", mnt], check=False)
        if os.path.exists(img):
            os.remove(img)
    return mnt, cleanup


def median_of(samples):
    out = {k: statistics.median(x[k] for x in samples) for k in samples[0] if k not in ("verified", "diff")}
    if "verified" in samples[0]:
        out["verified"] = all(x["verified"] for x in samples)
    out["samples"] = samples
    return out


def show(name, step, x):
    tail = (f"+{x['added'] / 1e6:9.2f} MB" if "added" in x else
            ("verified byte for byte" if x["verified"] else "DIFFERS: " + x.get("diff", "")))
    print(f"  {name:7} {step:9} {x['wall']:7.2f}s cpu {x['cpu']:7.2f}s rss {x['rss'] / 1024:7.1f} MB  {tail}",
          flush=True)


def run_dataset(ds, names, work, gen, quick, repeat):
    data = os.path.join(work, "data-" + ds)
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    if ds == "tree":
        src = os.path.join(data, "tree")
        sh([gen, "tree", src, "--seed", str(SEED), "--scale", "0.05" if quick else "1"])
        mutate = [gen, "mutate", src, "--seed", str(SEED)]
    elif ds == "bigfile":
        src = os.path.join(data, "big")
        os.makedirs(src)
        f = os.path.join(src, "disk.img")
        sh([gen, "bigfile", f, "--seed", str(SEED), "--mib", "64" if quick else "1024"])
        mutate = [gen, "edit", f, "--seed", str(SEED)]
    else:
        src = os.path.join(data, "dump")
        os.makedirs(src)
        f = os.path.join(src, "bugs.sql")
        mib = "24" if quick else "420"
        sh([gen, "dump", f, "--seed", str(SEED), "--day", "0", "--mib", mib])
        mutate = [gen, "dump", f, "--seed", str(SEED), "--day", "1", "--mib", mib]
    time.sleep(SETTLE)
    source_bytes = du(src)
    files = sum(len(fs) for _, _, fs in os.walk(src))
    print(f"\n== dataset {ds}: {files} files, {source_bytes / 1e9:.2f} GB", flush=True)
    fs, cleanup = restore_fs(work, source_bytes)
    print(f"  restores go to {'a fresh ext4 at ' + fs if fs else work}", flush=True)
    runs = {n: [Tool(n, work, k) for k in range(repeat)] for n in names}
    samples = {n: {s: [] for s in ("initial", "nochange", "mutated", "restore")} for n in names}

    def save(t, step):
        before = t.size()
        wall, cpu, rss = timed(t.save_cmd(src), t.env, work)
        after = t.size()
        x = dict(wall=wall, cpu=cpu, rss=rss, added=after - before, repo=after)
        samples[t.name][step].append(x)
        show(t.name, step, x)

    for n in names:
        for t in runs[n]:
            t.init()
            save(t, "initial")
            save(t, "nochange")
    sh(mutate)
    time.sleep(SETTLE)
    kept = []
    for n in names:
        for k, t in enumerate(runs[n]):
            save(t, "mutated")
            out = os.path.join(fs or work, f"restore-{ds}-{n}-{k}")
            shutil.rmtree(out, ignore_errors=True)
            cmd, copy = t.restore_cmd(src, out)
            wall, cpu, rss = timed(cmd, t.env, work)
            d = subprocess.run(["diff", "-rq", "--no-dereference", src, copy], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            x = dict(wall=wall, cpu=cpu, rss=rss, verified=d.returncode == 0, diff=d.stdout[:300])
            samples[n]["restore"].append(x)
            show(n, "restore", x)
            if fs:
                shutil.rmtree(out, ignore_errors=True)
            else:
                kept.append(out)
    for out in kept:
        shutil.rmtree(out, ignore_errors=True)
    if cleanup:
        cleanup()
    res = {n: {s: median_of(v) for s, v in samples[n].items()} for n in names}
    return dict(files=files, bytes=source_bytes, repeat=repeat, tools=res)


def table(name, ds):
    tools = list(ds["tools"])
    lines = [f"### {name}: {ds['files']} files, {ds['bytes'] / 1e9:.2f} GB "
             f"(medians of {ds['repeat']} runs per tool)", ""]
    head = "| step | metric | " + " | ".join(tools)
    peers = [t for t in tools if t != "backup"]
    if "backup" in tools:
        head += " | " + " | ".join(f"backup/{p}" for p in peers)
    lines += [head + " |", "|" + "---|" * (2 + len(tools) + (len(peers) if "backup" in tools else 0))]
    for step in ("initial", "nochange", "mutated", "restore"):
        for metric, unit, fmt in (("wall", "s", "{:.2f}"), ("cpu", "s", "{:.2f}"), ("rss", "MB", "{:.0f}"),
                                  ("added", "MB", "{:.2f}")):
            if step == "restore" and metric == "added":
                continue
            vals = {}
            for t in tools:
                v = ds["tools"][t][step][metric]
                vals[t] = v / 1024 if metric == "rss" else (v / 1e6 if metric == "added" else v)
            row = f"| {step} | {metric} ({unit}) | " + " | ".join(fmt.format(vals[t]) for t in tools)
            if "backup" in tools:
                row += " | " + " | ".join(
                    ("{:.2f}×".format(vals["backup"] / vals[p]) if vals[p] > 0 else "–") for p in peers)
            lines.append(row + " |")
    ver = ", ".join(f"{t}: {'ok' if ds['tools'][t]['restore']['verified'] else 'FAILED'}" for t in tools)
    lines += ["", f"Restore verified byte for byte: {ver}.", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "backup-compare"))
    ap.add_argument("--tools", default="backup,bup,restic,borg")
    ap.add_argument("--datasets", default="tree,bigfile,dump")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool and dataset (median reported)")
    ap.add_argument("--quick", action="store_true", help="small datasets, to check the script works")
    ap.add_argument("--keep", action="store_true", help="keep datasets and repositories")
    a = ap.parse_args()
    if not os.path.exists("/usr/bin/time"):
        sys.exit("compare: /usr/bin/time is missing (apt-get install time)")
    os.makedirs(a.work, exist_ok=True)
    sh(["cargo", "build", "--release", "--quiet", "--bin", "backup", "--example", "gen_dataset"], cwd=ROOT)
    gen = os.path.join(ROOT, "target", "release", "examples", "gen_dataset")
    if a.repeat < 1:
        sys.exit("compare: --repeat must be at least 1")
    tools = []
    for name in a.tools.split(","):
        if name == "backup" or available(name):
            tools.append(Tool(name, a.work))
        else:
            print(f"compare: NOTICE: {name} is not installed; skipping it", flush=True)
    versions = {}
    for t, cmd in (("bup", ["bup", "--version"]), ("restic", ["restic", "version"]),
                   ("borg", ["borg", "--version"]), ("backup", [tools[0].backup, "--version"])):
        if any(x.name == t for x in tools):
            versions[t] = sh(cmd, capture=True).stdout.strip()
    print("versions: " + "; ".join(f"{k}: {v}" for k, v in versions.items()))
    results = dict(versions=versions, machine=os.uname().machine, cpus=os.cpu_count(), datasets={})
    for ds in a.datasets.split(","):
        results["datasets"][ds] = run_dataset(ds, [t.name for t in tools], a.work, gen, a.quick, a.repeat)
    md = "\n".join(table(n, d) for n, d in results["datasets"].items())
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(a.work, "results.md"), "w") as f:
        f.write(md)
    print("\n" + md)
    if not a.keep:
        for d in os.listdir(a.work):
            if d.startswith(("data-", "repo-", "restore-")):
                shutil.rmtree(os.path.join(a.work, d), ignore_errors=True)


if __name__ == "__main__":
    main()
