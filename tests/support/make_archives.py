"""Writes the archive corpus of pyhost's extraction tests into a directory, at test time.

    /usr/bin/python3.11 -I make_archives.py OUT

OUT/archives/   good archives (every format pyhost reads), malicious ones (traversal, absolute
                paths, symlinks and hard links out, devices, bombs, too many entries, absurd
                names) and broken ones (truncated, garbage, empty, mislabelled); also the
                libFuzzer target's seed corpus
OUT/abs-escape/ an empty directory that the absolute paths and symlinks in the corpus aim at:
                it must stay empty
OUT/manifest.json
    good:     [{file, root, tree}]: the tree each must extract to, exactly (path -> {type, mode,
              data | target}), and the folder find_function_root must return ("" for the
              destination itself, null for none)
    bad:      [{file, entry, reason, limits?}]: each must be refused with a message naming the
              entry (null: the archive as a whole) and containing `reason`, under `limits`
    external: [file]: data in formats libarchive decodes only by running a program (lzop,
              lrzip, grzip, lzip...): to be refused without running anything
    canaries: directories that must stay empty; must_not_exist: paths that must not appear

Only the standard library; nothing binary is committed. Deterministic: the same bytes on every
run (fixed times, a seeded generator), so a fuzzing seed that finds something can be rebuilt.
"""
import bz2
import gzip
import io
import json
import lzma
import os
import random
import shutil
import stat
import struct
import sys
import tarfile
import zipfile

MTIME = 1_700_000_000
MARKER = ".pyhost-archive-corpus"
BOMB_BYTES = 64 << 20
BOMB_LIMIT = 8 << 20

FUNCTION_PY = "print('hello from function.py')\n"
HELPER_PY = "def helper():\n    return 42\n"


# ---- The good tree, as a list of entries (archive order) and the tree it must extract to ----

def good_entries(top):
    """Entries of a function with everything a real one has, below `top` ("" or "name/")."""
    return [
        ("dir", top or "./", {"mode": 0o755}),
        ("file", f"{top}function.py", {"data": FUNCTION_PY, "mode": 0o644}),
        # setuid and group/other write: pyhost's modes are 0755 and 0644, whatever the archive says.
        ("file", f"{top}run.sh", {"data": "#!/bin/sh\necho run\n", "mode": 0o4775}),
        ("file", f"{top}private.txt", {"data": "secret\n", "mode": 0o600}),
        ("dir", f"{top}lib", {"mode": 0o700}),
        ("file", f"{top}lib/helper.py", {"data": HELPER_PY, "mode": 0o664}),
        # Folders made by the path alone, and a "./" prefix.
        ("file", f"./{top}lib/deep/er/data.txt", {"data": "deep\n", "mode": 0o644}),
        ("dir", f"{top}sticky", {"mode": 0o1777}),
        ("file", f"{top}naïve-ünïcode.txt", {"data": "utf-8 name\n", "mode": 0o644}),
        ("symlink", f"{top}current", {"target": "lib/helper.py"}),
        ("symlink", f"{top}lib/up", {"target": "../function.py"}),
        ("symlink", f"{top}lib/deep/er/back", {"target": "../../helper.py"}),
        ("hardlink", f"{top}function_copy.py", {"target": f"{top}function.py"}),
    ]


def expected_tree(entries):
    tree = {}
    for kind, name, spec in entries:
        path = "/".join(part for part in name.split("/") if part not in ("", "."))
        parts = path.split("/") if path else []
        for depth in range(1, len(parts)):
            tree.setdefault("/".join(parts[:depth]), {"type": "dir", "mode": 0o755})
        if not path:
            continue
        if kind == "dir":
            tree[path] = {"type": "dir", "mode": 0o755}
        elif kind == "file":
            mode = 0o755 if spec["mode"] & 0o111 else 0o644
            tree[path] = {"type": "file", "mode": mode, "data": spec["data"]}
        elif kind == "symlink":
            tree[path] = {"type": "symlink", "target": spec["target"]}
        elif kind == "hardlink":
            tree[path] = {"type": "hardlink", "target": spec["target"].strip("/")}
    return tree


# ---- tar ----

def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as archive:
        for kind, name, spec in entries:
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            info.mode = spec.get("mode", 0o644)
            data = spec.get("data")
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "symlink":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, spec["target"], 0o777
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, spec["target"]
            elif kind == "chardev":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "blockdev":
                info.type, info.devmajor, info.devminor = tarfile.BLKTYPE, 7, 0
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            if data is not None:
                payload = data.encode() if isinstance(data, str) else data
                info.size = len(payload)
                archive.addfile(info, io.BytesIO(payload))
            else:
                archive.addfile(info)
    return out.getvalue()


def ustar_header(name, typeflag=b"0", size=0, linkname="", mode=0o644):
    """One raw ustar header, for what tarfile will not write (empty names, data on a directory
    or a hard link)."""
    def octal(value, width):
        return (b"%0*o" % (width - 1, value)) + b"\0"

    header = bytearray(512)
    fields = [
        (0, name.encode()[:100]), (100, octal(mode, 8)), (108, octal(0, 8)), (116, octal(0, 8)),
        (124, octal(size, 12)), (136, octal(MTIME, 12)), (156, typeflag),
        (157, linkname.encode()[:100]), (257, b"ustar\x0000"),
    ]
    for offset, value in fields:
        header[offset:offset + len(value)] = value
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def raw_tar(*members):
    """members: (header, data) pairs; the data is padded to 512-byte blocks."""
    out = bytearray()
    for header, data in members:
        out += header + data + b"\0" * (-len(data) % 512)
    return bytes(out + b"\0" * 1024)


def hard_link_with_data():
    """A pax hard link whose size is not 0: libarchive hands over its data (meant for the
    file linked to), and writing it would change the original through the link."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        original = tarfile.TarInfo("f")
        original.size, original.mtime = 8, MTIME
        archive.addfile(original, io.BytesIO(b"original"))
        link = tarfile.TarInfo("h")
        link.type, link.linkname, link.size, link.mtime = tarfile.LNKTYPE, "f", 9, MTIME
        link.pax_headers = {"comment": "a pax header: libarchive then keeps the size of a hard link"}
        archive.addfile(link, io.BytesIO(b"new data!"))
    return out.getvalue()


def zstd_stored(data):
    """A zstd frame of raw (stored) blocks (RFC 8878): Python 3.11 has no zstd compressor, and a
    stored frame still goes through libarchive's zstd filter."""
    window_log = 20
    frame = bytearray(struct.pack("<I", 0xFD2FB528))
    frame += bytes([0x00, (window_log - 10) << 3])  # no content size, no checksum; 1 MiB window
    block = 128 << 10
    chunks = [data[i:i + block] for i in range(0, len(data), block)] or [b""]
    for index, chunk in enumerate(chunks):
        last = 1 if index == len(chunks) - 1 else 0
        frame += (last | (0 << 1) | (len(chunk) << 3)).to_bytes(3, "little") + chunk
    return bytes(frame)


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=MTIME)


# ---- zip ----

def zip_bytes(members):
    """members: (name, data, unix_mode or None); None: a DOS entry without Unix attributes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name, date_time=(2023, 11, 14, 22, 13, 20))
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode is not None:
                info.create_system = 3
                info.external_attr = mode << 16
            else:
                info.create_system = 0
            if name.endswith("/"):
                info.external_attr |= 0x10
            archive.writestr(info, data)
    return out.getvalue()


def zip_good(top):
    members = [
        (f"{top}", b"", stat.S_IFDIR | 0o755),
        (f"{top}function.py", FUNCTION_PY.encode(), stat.S_IFREG | 0o644),
        (f"{top}run.sh", b"#!/bin/sh\necho run\n", stat.S_IFREG | 0o6755),
        (f"{top}lib/", b"", stat.S_IFDIR | 0o700),
        (f"{top}lib/helper.py", HELPER_PY.encode(), stat.S_IFREG | 0o600),
        (f"{top}dos.txt", b"made on DOS\n", None),
        (f"{top}naïve-ünïcode.txt", b"utf-8 name\n", stat.S_IFREG | 0o644),
        (f"{top}current", b"lib/helper.py", stat.S_IFLNK | 0o777),
    ]
    tree = {
        "function.py": {"type": "file", "mode": 0o644, "data": FUNCTION_PY},
        "run.sh": {"type": "file", "mode": 0o755, "data": "#!/bin/sh\necho run\n"},
        "lib": {"type": "dir", "mode": 0o755},
        "lib/helper.py": {"type": "file", "mode": 0o644, "data": HELPER_PY},
        "dos.txt": {"type": "file", "mode": 0o644, "data": "made on DOS\n"},
        "naïve-ünïcode.txt": {"type": "file", "mode": 0o644, "data": "utf-8 name\n"},
        "current": {"type": "symlink", "target": "lib/helper.py"},
    }
    if top:
        tree = {f"{top}{path}": spec for path, spec in tree.items()}
        tree[top.rstrip("/")] = {"type": "dir", "mode": 0o755}
    return [(name, data, mode) for name, data, mode in members if name], tree


def patch_zip_sizes(data, claimed):
    """Makes the local and central headers of a one-entry zip claim `claimed` bytes."""
    data = bytearray(data)
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    data[local + 22:local + 26] = struct.pack("<I", claimed)
    data[central + 24:central + 28] = struct.pack("<I", claimed)
    return bytes(data)


def big_zip(size):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        info = zipfile.ZipInfo("big.bin", date_time=(2023, 11, 14, 22, 13, 20))
        info.create_system, info.external_attr = 3, (stat.S_IFREG | 0o644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=False) as member:
            chunk = b"\0" * (1 << 20)
            for _ in range(size >> 20):
                member.write(chunk)
    return out.getvalue()


def big_tar_gz(size):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=MTIME) as packed:
        with tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as archive:
            info = tarfile.TarInfo("big.bin")
            info.size, info.mtime = size, MTIME

            class Zeros(io.RawIOBase):
                def readinto(self, buffer):
                    buffer[:] = bytes(len(buffer))
                    return len(buffer)

            archive.addfile(info, Zeros())
    return out.getvalue()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_archives.py OUT")
    out = os.path.abspath(sys.argv[1])
    if os.path.isdir(out) and os.listdir(out):
        if not os.path.exists(os.path.join(out, MARKER)):
            sys.exit(f"make_archives.py: {out} is not empty and not a corpus made by this script")
        shutil.rmtree(out)
    archives = os.path.join(out, "archives")
    escape = os.path.join(out, "abs-escape")
    os.makedirs(archives)
    os.makedirs(escape)
    open(os.path.join(out, MARKER), "w").close()

    def write(name, data):
        with open(os.path.join(archives, name), "wb") as f:
            f.write(data)
        return f"archives/{name}"

    manifest = {"good": [], "bad": [], "external": [], "canaries": [escape],
                "must_not_exist": ["/etc/pyhost-archive-test-never-written", os.path.join(escape, "evil.txt")]}

    def good(name, data, tree, root):
        manifest["good"].append({"file": write(name, data), "tree": tree, "root": root})

    def bad(name, data, entry, reason, **limits):
        record = {"file": write(name, data), "entry": entry, "reason": reason}
        if limits:
            record["limits"] = limits
        manifest["bad"].append(record)

    # -- Good: the same function in every format, at the root and in a single top folder.
    flat = good_entries("")
    flat_tar = tar_bytes(flat)
    flat_tree = expected_tree(flat)
    good("flat.tar", flat_tar, flat_tree, "")
    good("flat.tar.gz", gz(flat_tar), flat_tree, "")
    good("flat.tgz", gz(flat_tar), flat_tree, "")
    good("flat.gz", gz(flat_tar), flat_tree, "")
    good("flat.tar.xz", lzma.compress(flat_tar, format=lzma.FORMAT_XZ), flat_tree, "")
    good("flat.txz", lzma.compress(flat_tar, format=lzma.FORMAT_XZ), flat_tree, "")
    good("flat.tar.bz2", bz2.compress(flat_tar), flat_tree, "")
    good("flat.tar.zst", zstd_stored(flat_tar), flat_tree, "")
    folder = good_entries("obd-check/")
    folder_tar = tar_bytes(folder)
    good("folder.tar.gz", gz(folder_tar), expected_tree(folder), "obd-check")
    good("folder-gnu.tar", tar_bytes([e for e in folder if "ü" not in e[1]], tarfile.GNU_FORMAT),
         expected_tree([e for e in folder if "ü" not in e[1]]), "obd-check")
    long_name = "obd-check/" + "/".join(["long-folder-name-" + "x" * 40] * 3) + "/file.txt"
    long_entries = [("file", "obd-check/function.py", {"data": FUNCTION_PY, "mode": 0o644}),
                    ("file", long_name, {"data": "long\n", "mode": 0o644})]
    good("long-names.tar.gz", gz(tar_bytes(long_entries)), expected_tree(long_entries), "obd-check")
    members, tree = zip_good("")
    good("flat.zip", zip_bytes(members), tree, "")
    members, tree = zip_good("obd-check/")
    good("folder.zip", zip_bytes(members), tree, "obd-check")
    good("empty-archive.tar", raw_tar(), {}, None)
    good("zip-fifo-mode.zip", zip_bytes([("function.py", FUNCTION_PY.encode(), stat.S_IFREG | 0o644),
                                         ("pipe", b"", stat.S_IFIFO | 0o644)]),
         {"function.py": {"type": "file", "mode": 0o644, "data": FUNCTION_PY},
          "pipe": {"type": "file", "mode": 0o644, "data": ""}}, "")

    # -- Names that leave the destination, or are no names at all.
    bad("abs-path.tar", tar_bytes([("file", f"{escape}/evil.txt", {"data": "x"})]),
        f"{escape}/evil.txt", "an absolute path")
    bad("dotdot.tar", tar_bytes([("file", "../evil.txt", {"data": "x"})]), "../evil.txt", "a '..' component")
    bad("dotdot-inner.tar", tar_bytes([("file", "function.py", {"data": FUNCTION_PY}),
                                       ("file", "a/../../evil.txt", {"data": "x"})]),
        "a/../../evil.txt", "a '..' component")
    # Refused even though it would land inside: no '..' at all, no reasoning about where it goes.
    bad("dotdot-inside.tar", tar_bytes([("file", "a/../inside.txt", {"data": "x"})]),
        "a/../inside.txt", "a '..' component")
    bad("empty-name.tar", raw_tar((ustar_header(""), b"")), "", "an empty name")
    bad("dot-file.tar", raw_tar((ustar_header(".", size=1), b"x")), ".", "names the destination itself")
    bad("long-component.tar", tar_bytes([("file", "a/" + "c" * 300, {"data": "x"})]),
        "a/" + "c" * 300, "a component longer than 255 bytes")
    long_path = "/".join(["p" * 100] * 42)
    bad("long-path.tar", tar_bytes([("file", long_path, {"data": "x"})]), long_path, "a name longer than 4096 bytes")
    deep_path = "/".join(["d"] * 200) + "/f"
    bad("deep.tar", tar_bytes([("file", deep_path, {"data": "x"})]), deep_path, "levels deep")
    bad("duplicate.tar", tar_bytes([("file", "function.py", {"data": FUNCTION_PY}),
                                    ("file", "function.py", {"data": "import os\n"})]),
        "function.py", "exists already")

    # -- Symlinks out, and entries written through symlinks.
    bad("symlink-abs.tar", tar_bytes([("symlink", "escape", {"target": escape}),
                                      ("file", "escape/evil.txt", {"data": "x"})]),
        "escape", "a symlink to an absolute path")
    bad("symlink-etc.tar", tar_bytes([("symlink", "etc", {"target": "/etc"}),
                                      ("file", "etc/pyhost-archive-test-never-written", {"data": "x"})]),
        "etc", "a symlink to an absolute path")
    bad("symlink-rel-out.tar", tar_bytes([("symlink", "out", {"target": "../canary"}),
                                          ("file", "out/evil.txt", {"data": "x"})]),
        "out", "resolves outside the destination")
    bad("symlink-rel-deep.tar", tar_bytes([("symlink", "a/b/out", {"target": "../../../canary/x"})]),
        "a/b/out", "resolves outside the destination")
    # An inside symlink, then an entry through it: the openat() walk refuses it.
    bad("symlink-through.tar", tar_bytes([("dir", "sub", {}), ("symlink", "lnk", {"target": "sub"}),
                                          ("file", "lnk/evil.txt", {"data": "x"})]),
        "lnk/evil.txt", "passes through the symlink 'lnk'")
    bad("symlink-then-dir.tar", tar_bytes([("dir", "sub", {}), ("symlink", "d", {"target": "sub"}),
                                           ("dir", "d", {})]),
        "d", "passes through the symlink 'd'")
    # Each link stays inside taken alone; followed through the other, `esc` leaves.
    bad("symlink-chain.tar", tar_bytes([("symlink", "sub/up", {"target": ".."}),
                                        ("symlink", "esc", {"target": "sub/up/.."})]),
        "esc", "resolves outside the destination")
    bad("symlink-chain-late.tar", tar_bytes([("symlink", "esc", {"target": "sub/up/../x"}),
                                             ("dir", "sub", {}),
                                             ("symlink", "sub/up", {"target": ".."})]),
        "esc", "resolves outside the destination")
    bad("symlink-loop.tar", tar_bytes([("symlink", "a", {"target": "b"}), ("symlink", "b", {"target": "a"})]),
        "a", "a symlink loop")
    # Each link alone is cheap to check and stays inside; 400 of them with 4 KB targets would
    # cost over a million steps (counted as they are checked, then again in the finished tree).
    tangle = "a/../" * 800 + "a"
    bad("symlink-tangle.tar.gz", gz(tar_bytes([("dir", "a", {})] +
                                              [("symlink", f"s{index:03}", {"target": tangle}) for index in range(400)])),
        "s", "more symlinks, or more tangled ones, than can be checked")
    bad("symlink-empty.tar", raw_tar((ustar_header("s", b"2", linkname=""), b"")), "s", "empty target")

    # -- Hard links.
    bad("hardlink-etc.tar", tar_bytes([("hardlink", "passwd", {"target": "/etc/passwd"})]),
        "passwd", "an absolute path")
    bad("hardlink-out.tar", tar_bytes([("hardlink", "x", {"target": "../canary/f"})]), "x", "a '..' component")
    bad("hardlink-symlink.tar", tar_bytes([("file", "function.py", {"data": FUNCTION_PY}),
                                           ("symlink", "s", {"target": "function.py"}),
                                           ("hardlink", "h", {"target": "s"})]),
        "h", "not a regular file extracted before it")
    bad("hardlink-later.tar", tar_bytes([("hardlink", "h", {"target": "later.txt"}),
                                         ("file", "later.txt", {"data": "x"})]),
        "h", "not a regular file extracted before it")
    bad("hardlink-dir.tar", tar_bytes([("dir", "d", {}), ("hardlink", "h", {"target": "d"})]),
        "h", "not a regular file extracted before it")
    bad("hardlink-with-data.tar", hard_link_with_data(), "h", "a hard link that carries data")

    # -- Devices and FIFOs (a zip cannot hold one: libarchive reads its FIFO mode as a file).
    bad("chardev.tar", tar_bytes([("chardev", "null", {})]), "null", "a character device")
    bad("blockdev.tar", tar_bytes([("blockdev", "loop0", {})]), "loop0", "a block device")
    bad("fifo.tar", tar_bytes([("fifo", "pipe", {})]), "pipe", "a FIFO")

    # -- Limits: bytes as written (a bomb, also one whose headers lie) and entries.
    bad("bomb.tar.gz", big_tar_gz(BOMB_BYTES), "big.bin", "bytes of data in all", max_bytes=BOMB_LIMIT)
    bomb_zip = big_zip(BOMB_BYTES)
    bad("bomb.zip", bomb_zip, "big.bin", "bytes of data in all", max_bytes=BOMB_LIMIT)
    bad("bomb-lying.zip", patch_zip_sizes(bomb_zip, 1000), "big.bin", "", max_bytes=BOMB_LIMIT)
    many = [("file", f"f{index:03}.txt", {"data": ""}) for index in range(101)]
    bad("many-entries.tar", tar_bytes(many), "f100.txt", "more than 100 entries", max_entries=100)
    bad("many-folders.tar", tar_bytes([("file", "a/b/c/d/e/f/g/h/i/j/k/file.txt", {"data": "x"})]),
        "a/b/c/d/e/f/g/h/i/j/k/file.txt", "more than 10 entries", max_entries=10)

    # -- Broken, empty, garbage and mislabelled.
    big = tar_bytes([("file", "function.py", {"data": FUNCTION_PY}),
                     ("file", "data.bin", {"data": random.Random(1).randbytes(256 << 10)})])
    bad("truncated.tar", big[:len(big) // 2], "data.bin", "its data is corrupt or truncated")
    big_gz = gz(big)
    bad("truncated.tar.gz", big_gz[:len(big_gz) // 2], "data.bin", "its data is corrupt or truncated")
    members, _ = zip_good("")
    whole_zip = zip_bytes(members + [("data.bin", random.Random(2).randbytes(64 << 10), stat.S_IFREG | 0o644)])
    bad("truncated.zip", whole_zip[:len(whole_zip) // 2], "data.bin", "its data is corrupt or truncated")
    garbage = random.Random(3).randbytes(4096)
    bad("garbage.tar", garbage, None, "cannot read it as a tar archive")
    bad("garbage.tar.gz", garbage, None, "cannot read it as a gzip-compressed tar archive")
    bad("garbage.zip", garbage, None, "cannot read it as a zip archive")
    bad("gzip-garbage.tar.gz", gz(garbage), None, "cannot read it as a gzip-compressed tar archive")
    bad("empty.tar", b"", None, "empty (0 bytes)")
    bad("empty.tar.gz", b"", None, "empty (0 bytes)")
    bad("empty.zip", b"", None, "empty (0 bytes)")
    bad("tar-as.zip", flat_tar, None, "cannot read it as a zip archive")
    bad("zip-as.tar", zip_bytes(members), None, "cannot read it as a tar archive")
    bad("plain-as.tar.gz", flat_tar, None, "it is not gzip-compressed")
    bad("xz-as.tar.gz", lzma.compress(flat_tar, format=lzma.FORMAT_XZ), None,
        "cannot read it as a gzip-compressed tar archive")

    # -- zip's own ways out.
    bad("zip-dotdot.zip", zip_bytes([("function.py", b"x", None), ("../evil.txt", b"x", None)]),
        "../evil.txt", "a '..' component")
    bad("zip-abs.zip", zip_bytes([(f"{escape}/evil.txt", b"x", None)]), f"{escape}/evil.txt", "an absolute path")
    bad("zip-symlink-out.zip", zip_bytes([("out", b"../canary", stat.S_IFLNK | 0o777),
                                          ("out/evil.txt", b"x", stat.S_IFREG | 0o644)]),
        "out", "resolves outside the destination")
    bad("zip-symlink-abs.zip", zip_bytes([("etc", b"/etc", stat.S_IFLNK | 0o777)]), "etc",
        "a symlink to an absolute path")
    bad("zip-symlink-through.zip", zip_bytes([("sub/", b"", stat.S_IFDIR | 0o755),
                                              ("lnk", b"sub", stat.S_IFLNK | 0o777),
                                              ("lnk/evil.txt", b"x", stat.S_IFREG | 0o644)]),
        "lnk/evil.txt", "passes through the symlink 'lnk'")

    # -- Compression that only an external program would decode: magic numbers, then junk.
    for name, magic in [("lzop", b"\x89LZO\x00\r\n\x1a\n"), ("lrzip", b"LRZI\x00\x06"),
                        ("grzip", b"GRZipII\x00\x02\x04:)"), ("lzip", b"LZIP\x01\x0c"),
                        ("lz4", b"\x04\x22\x4d\x18"), ("compress", b"\x1f\x9d\x90")]:
        manifest["external"].append(write(f"external-{name}.bin", magic + random.Random(name).randbytes(512)))

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
    print(f"make_archives.py: {len(manifest['good'])} good, {len(manifest['bad'])} bad, "
          f"{len(manifest['external'])} external-filter inputs in {archives}")


if __name__ == "__main__":
    main()
