#!/usr/bin/env bash
# Regenerate the seed corpus (fuzz/corpus/<target>/seed-*) from real tools:
# git 2.47 (packs with OFS/REF deltas, idx v1/v2, trees, commits), bup 0.33
# (.bupm records, bup trees and commits) and our own binary (packs, the file
# index). A few seeds are built by hand from the format description
# (delta instructions, REF_DELTA loops, thin packs). Seeds are kept small
# (a few KiB); run from anywhere. Needs git, bup, python3 and a built
# `target/debug/backup` (cargo build).
set -euo pipefail
fuzz=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$fuzz")
bin="$root/target/debug/backup"
[ -x "$bin" ] || { echo "make-seeds: build $bin first (cargo build)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
corpus="$fuzz/corpus"
for t in pack pack_structured delta idx tree commit bupm fsindex; do
    mkdir -p "$corpus/$t"
    rm -f "$corpus/$t"/seed-*
done
export GIT_AUTHOR_NAME=Fuzz GIT_AUTHOR_EMAIL=fuzz@example.com
export GIT_COMMITTER_NAME=Fuzz GIT_COMMITTER_EMAIL=fuzz@example.com
export GIT_AUTHOR_DATE='1400000000 +0200' GIT_COMMITTER_DATE='1400000000 +0200'

# --- git: a small history with delta material --------------------------------
g="$work/g"
git init -q "$g"
python3 - "$g" <<'EOF'
import sys, subprocess, random
repo = sys.argv[1]
rnd = random.Random(7)
words = [b"alpha", b"beta", b"gamma", b"delta", b"pack", b"tree", b"blob"]
text = b" ".join(rnd.choice(words) for _ in range(150)) + b"\n"
for i in range(6):
    at = (i * 97) % (len(text) - 20)
    text = text[:at] + b"edit %02d " % i + text[at + 8:]
    open(f"{repo}/file.txt", "wb").write(text)
    open(f"{repo}/n{i % 2}", "wb").write(b"%d\n" % i)
    subprocess.run(["git", "-C", repo, "add", "-A"], check=True)
    subprocess.run(["git", "-C", repo, "commit", "-q", "-m", f"c{i}"], check=True)
EOF
git -C "$g" repack -q -a -d -f --window=10 --depth=5
pack=$(ls "$g"/.git/objects/pack/*.pack)
cp "$pack" "$corpus/pack/seed-git-ofs-delta.pack"
cp "${pack%.pack}.idx" "$corpus/idx/seed-git-v2.idx"
git -C "$g" rev-list --objects --all | cut -c1-40 >"$work/ids"
git -C "$g" pack-objects -q --window=10 --depth=5 "$work/ref" <"$work/ids" >/dev/null
cp "$work"/ref-*.pack "$corpus/pack/seed-git-ref-delta.pack"
git -C "$g" -c pack.indexVersion=1 index-pack -o "$work/v1.idx" "$work"/ref-*.pack >/dev/null
cp "$work/v1.idx" "$corpus/idx/seed-git-v1.idx"
git -C "$g" pack-objects -q "$work/empty" </dev/null >/dev/null
cp "$work"/empty-*.pack "$corpus/pack/seed-git-empty.pack"
cp "$work"/empty-*.idx "$corpus/idx/seed-git-empty.idx"
git -C "$g" cat-file tree HEAD >"$corpus/tree/seed-git-root"
git -C "$g" cat-file commit HEAD >"$corpus/commit/seed-git-child"
git -C "$g" cat-file commit "$(git -C "$g" rev-list --max-parents=0 HEAD)" >"$corpus/commit/seed-git-root"
# A merge with extra headers git users may have (mergetag, gpgsig, encoding).
tree=$(git -C "$g" rev-parse HEAD^{tree})
{
    echo "tree $tree"
    echo "parent $(git -C "$g" rev-parse HEAD)"
    echo "parent $(git -C "$g" rev-parse HEAD~1)"
    echo "author A U Thor <author@example.com> 1400000000 -0430"
    echo "committer C O Mitter <c@example.com> -5 +1400"
    echo "encoding ISO-8859-1"
    echo "gpgsig -----BEGIN PGP SIGNATURE-----"
    echo " "
    echo " iQEzBAABCAAdFiEE"
    echo " -----END PGP SIGNATURE-----"
    echo
    echo "merge with headers"
} >"$corpus/commit/seed-headers"

# --- bup: a save with metadata of every kind ---------------------------------
b="$work/bup"
src="$work/src"
mkdir -p "$src/dir"
printf 'hello\n' >"$src/file"
ln -s file "$src/link"
ln "$src/file" "$src/hard"
mkfifo "$src/fifo"
printf 'x%.0s' $(seq 1 300) >"$src/dir/big"
setfattr -n user.fuzz -v value "$src/file" 2>/dev/null || true
setfacl -m u:nobody:r "$src/dir/big" 2>/dev/null || true
touch -h -d '1969-07-20 20:17:40.5 UTC' "$src/link"
BUP_DIR="$b" bup init >/dev/null 2>&1
BUP_DIR="$b" bup index "$src" >/dev/null
BUP_DIR="$b" bup save -n s --strip "$src" >/dev/null 2>&1
git --git-dir="$b" cat-file commit s >"$corpus/commit/seed-bup"
git --git-dir="$b" cat-file tree s: >"$corpus/tree/seed-bup-root"
git --git-dir="$b" cat-file blob s:.bupm >"$corpus/bupm/seed-bup-root"
git --git-dir="$b" cat-file blob s:dir/.bupm >"$corpus/bupm/seed-bup-dir"
# The 107-byte .bupm of bup-format.md section 4.6 (verified against bup).
python3 - "$corpus/bupm/seed-spec-4.6" <<'EOF'
import sys
hexdump = """0a2e ad87 0200 0472 6f6f 7400 0472 6f6f
7400 a1dc 8fb0 0d81 c680 8c01 a5f6 eae0
0b95 9aef 3aa1 dc8f b00d 95a1 fe8a 0141
0603 8080 2000 0a2d a486 0400 0472 6f6f
7400 0472 6f6f 7400 a5f6 eae0 0b95 9aef
3aa5 f6ea e00b 959a ef3a a1dc 8fb0 0d95
a1fe 8a01 0606 0380 8020 00"""
data = bytes.fromhex("".join(hexdump.split()))
assert len(data) == 107
open(sys.argv[1], "wb").write(data)
EOF

# --- our binary: a split pack and a file index -------------------------------
r="$work/repo"
"$bin" -d "$r" init >/dev/null
head -c 3000 /dev/zero | tr '\0' 'z' >"$work/zs"
"$bin" -d "$r" split -n zs "$work/zs" >/dev/null
ours=$(ls "$r"/objects/pack/*.pack | head -1)
cp "$ours" "$corpus/pack/seed-backup-split.pack"
cp "${ours%.pack}.idx" "$corpus/idx/seed-backup-split.idx"
"$bin" -d "$r" index "$src" >/dev/null
cp "$r/backup.index" "$corpus/fsindex/seed-backup-index"
# The fuzz target also appends a valid BLAKE3 trailer itself; this copy
# without one is what it sees as its "sealed" input.
head -c -32 "$r/backup.index" >"$corpus/fsindex/seed-backup-index-body"

# --- by hand: deltas, REF_DELTA loops, a thin pack ---------------------------
python3 - "$corpus" <<'EOF'
import sys, zlib, hashlib, struct
corpus = sys.argv[1]

def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7f | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)

def delta(base_len, result_len, ops):
    return varint(base_len) + varint(result_len) + b"".join(ops)

def insert(lit):
    return bytes([len(lit)]) + lit

def copy(off, size):
    cmd, args = 0x80, bytearray()
    for i in range(4):
        if (off >> 8 * i) & 0xff:
            cmd |= 1 << i
            args.append((off >> 8 * i) & 0xff)
    for i in range(3):
        if (size >> 8 * i) & 0xff:
            cmd |= 1 << (4 + i)
            args.append((size >> 8 * i) & 0xff)
    return bytes([cmd]) + bytes(args)

def delta_seed(name, base, d):
    open(f"{corpus}/delta/seed-{name}", "wb").write(struct.pack("<H", len(base)) + base + d)

base = b"hello world"
delta_seed("copy-insert", base, delta(11, 13, [copy(0, 5), insert(b" there"), copy(9, 2)]))
delta_seed("insert-only", b"", delta(0, 3, [insert(b"abc")]))
big = bytes(range(256)) * 4
delta_seed("offsets", big, delta(len(big), 700, [copy(300, 500), copy(1000, 24), insert(b"x" * 100), copy(0, 76)]))

def entry_header(code, size):
    first = code << 4 | size & 0x0f
    size >>= 4
    out = bytearray()
    while size:
        out.append(first | 0x80)
        first = size & 0x7f
        size >>= 7
    out.append(first)
    return bytes(out)

def pack(entries):
    body = b"PACK" + struct.pack(">II", 2, len(entries)) + b"".join(entries)
    return body + hashlib.sha1(body).digest()

def whole(kind, data):
    return entry_header(kind, len(data)) + zlib.compress(data)

def ref(base_id, d):
    return entry_header(7, len(d)) + base_id + zlib.compress(d)

def ofs(dist, d):
    enc = [dist & 0x7f]
    dist >>= 7
    while dist:
        dist -= 1
        enc.append(0x80 | dist & 0x7f)
        dist >>= 7
    return entry_header(6, len(d)) + bytes(reversed(enc)) + zlib.compress(d)

def save(name, data):
    open(f"{corpus}/pack/seed-{name}", "wb").write(data)

# The fuzz target names its i-th guessed entry 20 bytes of i.
d = delta(2, 2, [copy(0, 2)])
save("ref-delta-loop", pack([ref(bytes([1]) * 20, d), ref(bytes([0]) * 20, d)]))
# A thin pack: the base (id fe..fe) is the first 64 bytes of the input.
thin = pack([ref(b"\xfe" * 20, delta(64, 10, [copy(0, 4), insert(b"thin!!")]))])
save("thin-ref-delta", thin)
# A blob, then an OFS_DELTA chain on it, then a tree and a commit.
b0 = b"base blob content " * 8
e0 = whole(3, b0)
d1 = delta(len(b0), 30, [copy(5, 20), insert(b"-more")])
e1 = ofs(len(e0), d1)
tree = b"100644 b\0" + hashlib.sha1(b"blob %d\0" % len(b0) + b0).digest()
commit = b"tree " + hashlib.sha1(b"tree %d\0" % len(tree) + tree).hexdigest().encode() + \
    b"\nauthor a <b> 1 +0000\ncommitter a <b> 1 +0000\n\nm\n"
save("ofs-chain", pack([e0, e1, whole(2, tree), whole(1, commit), whole(4, b"object x\ntype blob\ntag t\n\n")]))
# Stored (uncompressed) deflate blocks, as bup's level-0 packs use.
stored = zlib.compressobj(0)
s = stored.compress(b"stored " * 20) + stored.flush()
save("stored-block", pack([entry_header(3, 140) + s]))

# pack_structured: entry descriptions (see parse_specs in src/lib.rs).
def spec(kind, payload, base=None, level=None, claim=None, cut=None, repeat=0):
    b0 = kind | (0x08 if claim is not None else 0) | (0x10 if cut is not None else 0) \
        | (0x20 if level is not None else 0)
    out = bytes([b0])
    if claim is not None:
        out += struct.pack("<I", claim)
    if cut is not None:
        out += bytes([cut])
    if level is not None:
        out += bytes([level])
    if base is not None:
        out += bytes([base])
    return out + struct.pack("<HB", len(payload), repeat) + payload

def structured(name, specs):
    open(f"{corpus}/pack_structured/seed-{name}", "wb").write(b"".join(specs))

BLOB, TREE, COMMIT, TAG, OFS, REF = 2, 1, 0, 3, 4, 6
base64 = bytes(range(48, 112))
structured("whole", [spec(BLOB, b"hello\n"), spec(TREE, tree, level=6),
                     spec(COMMIT, commit, level=1), spec(TAG, b"object x\n", claim=3)])
structured("ofs-chain", [spec(BLOB, base64),
                         spec(OFS, delta(64, 12, [copy(8, 6), insert(b"change")]), base=0),
                         spec(OFS, delta(12, 6, [copy(6, 6)]), base=1, level=3)])
structured("ref-delta", [spec(REF, delta(64, 4, [copy(60, 4)]), base=1), spec(BLOB, base64)])
structured("ref-loop", [spec(REF, d, base=1), spec(REF, d, base=0)])
structured("thin", [spec(REF, delta(64, 5, [insert(b"thin"), copy(0, 1)]), base=0xfe)])
structured("damaged", [spec(BLOB, b"abc" * 30, cut=3, level=6), spec(BLOB, b"x", claim=1000)])
EOF
for t in pack pack_structured delta idx tree commit bupm fsindex; do
    echo "$t: $(ls "$corpus/$t" | grep -c '^seed-') seeds, $(cat "$corpus/$t"/seed-* | wc -c) bytes"
done
chmod 644 "$corpus"/*/seed-*
