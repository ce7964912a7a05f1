#!/usr/bin/env python3
"""Whole-run comparison of backup against bup, restic and borg.

Usage: benches/compare.py [--work DIR] [--tools backup,bup,restic,borg]
                          [--datasets tree,bigfile,dump] [--quick] [--keep]

For each dataset (generated deterministically by examples/gen_dataset.rs
with a fixed seed, outside the source tree) and each tool, four steps are
timed with /usr/bin/time -v: the initial save, a save with no change, a
save after the mutation (tree: ~1 % of files changed; bigfile: 50 small
inserts/deletes; dump: the next day's dump), and a full restore of the
newest save, which is then compared byte for byte with the source (diff -r).
Recorded per step: wall time, CPU time (user+sys), peak RSS, repository
size and bytes added. A missing peer tool is skipped with a printed notice.
Results go to WORK/results.json and WORK/results.md and are printed.

All tools read from the page cache (the data was just generated) and write
to the same filesystem; each run is alone on the machine. Before every timed
step the script syncs (so one tool's writeback is not billed to the next) and
after generating or mutating data it waits SETTLE seconds: a real nightly
save never sees files written milliseconds earlier, and tools that distrust
very recent timestamps (backup, bup, git) would otherwise re-read them.
Restored copies are kept until the dataset is done: ext4 slows down the
creation of files right after many were deleted (it avoids recently freed
inodes), which would bill one tool's cleanup to the next.
"""

import argparse
import json
import os
import shutil
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
    def __init__(self, name, work):
        self.name = name
        self.repo = os.path.join(work, "repo-" + name)
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


def run_dataset(ds, tools, work, gen, quick):
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
    res = {}
    for t in tools:
        t.init()
        r = res.setdefault(t.name, {})
        before = t.size()
        for step in ("initial", "nochange"):
            wall, cpu, rss = timed(t.save_cmd(src), t.env, work)
            after = t.size()
            r[step] = dict(wall=wall, cpu=cpu, rss=rss, added=after - before, repo=after)
            before = after
            print(f"  {t.name:7} {step:9} {wall:7.2f}s cpu {cpu:7.2f}s rss {rss / 1024:7.1f} MB  +{r[step]['added'] / 1e6:9.2f} MB",
                  flush=True)
    sh(mutate)
    time.sleep(SETTLE)
    restored = []
    for t in tools:
        r = res[t.name]
        before = t.size()
        wall, cpu, rss = timed(t.save_cmd(src), t.env, work)
        after = t.size()
        r["mutated"] = dict(wall=wall, cpu=cpu, rss=rss, added=after - before, repo=after)
        print(f"  {t.name:7} mutated   {wall:7.2f}s cpu {cpu:7.2f}s rss {rss / 1024:7.1f} MB  +{(after - before) / 1e6:9.2f} MB",
              flush=True)
        out = os.path.join(work, f"restore-{ds}-{t.name}")
        shutil.rmtree(out, ignore_errors=True)
        restored.append(out)
        cmd, copy = t.restore_cmd(src, out)
        wall, cpu, rss = timed(cmd, t.env, work)
        d = subprocess.run(["diff", "-rq", "--no-dereference", src, copy], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        ok = d.returncode == 0
        r["restore"] = dict(wall=wall, cpu=cpu, rss=rss, verified=ok)
        print(f"  {t.name:7} restore   {wall:7.2f}s cpu {cpu:7.2f}s rss {rss / 1024:7.1f} MB  "
              f"{'verified byte for byte' if ok else 'DIFFERS: ' + d.stdout[:300]}", flush=True)
    for out in restored:
        shutil.rmtree(out, ignore_errors=True)
    return dict(files=files, bytes=source_bytes, tools=res)


def table(name, ds):
    tools = list(ds["tools"])
    lines = [f"### {name}: {ds['files']} files, {ds['bytes'] / 1e9:.2f} GB", ""]
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
    ap.add_argument("--quick", action="store_true", help="small datasets, to check the script works")
    ap.add_argument("--keep", action="store_true", help="keep datasets and repositories")
    a = ap.parse_args()
    if not os.path.exists("/usr/bin/time"):
        sys.exit("compare: /usr/bin/time is missing (apt-get install time)")
    os.makedirs(a.work, exist_ok=True)
    sh(["cargo", "build", "--release", "--quiet", "--bin", "backup", "--example", "gen_dataset"], cwd=ROOT)
    gen = os.path.join(ROOT, "target", "release", "examples", "gen_dataset")
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
        results["datasets"][ds] = run_dataset(ds, tools, a.work, gen, a.quick)
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
