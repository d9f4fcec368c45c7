"""Hostile and realistic archives built inside a test, shared by the tests of the three extractors.

Every builder writes real zip or tar.gz bytes with the standard library (no fixture files), so a
test shows exactly what it feeds the extractor: traversal, link chains, duplicate names, a bad
CRC, a truncated stream, zip bombs by member and by total ratio, a declared size no disk holds,
and a tree shaped like a 1CRM update package (which must pass the default limits).
"""

from __future__ import annotations

import io
import random
import stat
import struct
import tarfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    """One member: a file (data), a folder (`dir`), a symlink (`link`, target) or a hard link."""

    name: str
    data: bytes = b"payload"
    kind: str = "file"
    target: str = ""


def file(name: str, data: bytes = b"payload") -> Entry:
    return Entry(name, data)


def link(name: str, target: str) -> Entry:
    return Entry(name, b"", "link", target)


def folder(name: str) -> Entry:
    return Entry(name.rstrip("/") + "/", b"", "dir")


def hardlink(name: str, target: str) -> Entry:
    return Entry(name, b"", "hardlink", target)


#: name -> (entries, formats, error kind, words the one-line refusal must hold)
#: name -> (entries, formats it can be written as, error kind, words the one-line refusal holds):
#: what every extractor refuses before it writes anything
HOSTILE: dict[str, tuple[list[Entry], tuple[str, ...], str, tuple[str, ...]]] = {
    "traversal": ([file("good.txt"), file("../evil.txt")], ("zip", "tar.gz"), "unsafe", ("../evil.txt", "'..'")),
    "absolute": ([file("good.txt"), file("/tmp/cutover-abs-evil")], ("zip", "tar.gz"), "unsafe", ("absolute",)),
    "drive-letter": ([file("C:/Windows/evil.dll")], ("zip",), "unsafe", ("absolute",)),
    "unc": ([file("\\\\server\\share\\evil")], ("zip",), "unsafe", ("absolute",)),
    # `x -> .` is inside; `y -> x/..` is `.` by its letters but `..` once x is followed
    "symlink-chain": (
        [file("good.txt"), link("x", "."), link("y", "x/.."), file("y/evil.txt")],
        ("zip", "tar.gz"), "unsafe", ("y:", "link out of the destination"),
    ),
    # the link that makes `c` leave dest comes after it: the chain is judged once all links are known
    "symlink-chain-later": (
        [link("c", "a/.."), link("a", "."), file("good.txt")],
        ("zip", "tar.gz"), "unsafe", ("c:", "link chain out of the destination"),
    ),
    "duplicate": ([file("a.txt", b"one"), file("a.txt", b"two")], ("zip", "tar.gz"), "unsafe", ("a.txt:", "duplicate")),
    "duplicate-through-link": (
        [folder("d"), link("l", "d"), file("d/x"), file("l/x")],
        ("zip", "tar.gz"), "unsafe", ("l/x:", "duplicate"),
    ),
    "hardlink-not-a-member": ([file("good.txt"), hardlink("h", "sub/keep.txt")], ("tar.gz",), "unsafe", ("h:", "hard link")),
    "hardlink-absolute": ([hardlink("h", "/etc/passwd")], ("tar.gz",), "unsafe", ("h:", "absolute")),
}  # fmt: skip


def write_zip(path: Path, entries: list[Entry], method: int = zipfile.ZIP_DEFLATED) -> Path:
    """A zip of the entries in order (duplicates kept: zipfile only warns about them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": the point of some tests
        with zipfile.ZipFile(path, "w", method) as zf:
            for e in entries:
                info = zipfile.ZipInfo(e.name, (2024, 1, 1, 0, 0, 0))
                info.compress_type = method
                if e.kind == "link":
                    info.create_system = 3
                    info.external_attr = (stat.S_IFLNK | 0o777) << 16
                    zf.writestr(info, e.target)
                elif e.kind == "dir":
                    info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
                    zf.writestr(info, b"")
                else:
                    info.external_attr = (stat.S_IFREG | 0o644) << 16
                    zf.writestr(info, e.data)
    return path


def write_tar(path: Path, entries: list[Entry]) -> Path:
    """A tar.gz of the entries in order."""
    kinds = {
        "file": tarfile.REGTYPE,
        "dir": tarfile.DIRTYPE,
        "link": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
    }
    with tarfile.open(path, "w:gz") as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name.rstrip("/") if e.kind == "dir" else e.name)
            info.type, info.linkname, info.mtime = kinds[e.kind], e.target, 1_704_067_200
            info.mode = 0o755 if e.kind == "dir" else 0o644
            info.size = len(e.data) if e.kind == "file" else 0
            tar.addfile(info, io.BytesIO(e.data) if e.kind == "file" else None)
    return path


def write(path: Path, entries: list[Entry]) -> Path:
    """A zip or a tar.gz, by the name's ending."""
    return write_zip(path, entries) if path.name.endswith(".zip") else write_tar(path, entries)


def corrupt_member(path: Path, data: bytes) -> Path:
    """Flip one byte inside a member stored uncompressed whose content is `data`: a bad CRC."""
    raw = bytearray(path.read_bytes())
    at = raw.index(data) + len(data) // 2
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path


def truncate(path: Path, keep: int) -> Path:
    """Cut the file to its first `keep` bytes (negative: drop that many from the end)."""
    raw = path.read_bytes()
    path.write_bytes(raw[:keep])
    return path


def zero_bomb(path: Path, size: int, name: str = "zeros.bin") -> Path:
    """A zip holding one member of `size` zero bytes, deflated (about 1000:1), written in chunks."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as out:
            chunk = bytes(1 << 20)
            for _ in range(size >> 20):
                out.write(chunk)
    return path


def tar_zero_bomb(path: Path, size: int, name: str = "zeros.bin") -> Path:
    """A tar.gz holding one member of `size` zero bytes."""

    class Zeros:
        """`left` zero bytes, read in pieces (never held whole)."""

        def __init__(self, left: int) -> None:
            self.left = left

        def read(self, size: int = -1) -> bytes:
            n = self.left if size < 0 else min(size, self.left)
            self.left -= n
            return bytes(n)

    with tarfile.open(path, "w:gz", compresslevel=9) as tar:
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, Zeros(size))  # type: ignore[arg-type]
    return path


def declared_huge(path: Path, declared: int, name: str = "huge.bin") -> Path:
    """A zip64 whose one stored member says it holds `declared` bytes (it holds one): what a disk
    cannot take, judged before anything is read."""
    data = b"x"
    crc = zlib.crc32(data)
    name_b = name.encode()
    extra = struct.pack("<HHQQ", 1, 16, declared, len(data))
    dostime, dosdate = 0, (44 << 9) | (1 << 5) | 1
    local = struct.pack(
        "<IHHHHHIIIHH",
        0x04034B50,
        45,
        0,
        0,
        dostime,
        dosdate,
        crc,
        0xFFFFFFFF,
        0xFFFFFFFF,
        len(name_b),
        len(extra),
    )
    local += name_b + extra + data
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50, 45, 45, 0, 0, dostime, dosdate, crc, 0xFFFFFFFF, 0xFFFFFFFF,
        len(name_b), len(extra), 0, 0, 0, (stat.S_IFREG | 0o644) << 16, 0,
    )  # fmt: skip
    central += name_b + extra
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local), 0)
    path.write_bytes(local + central + end)
    return path


_WORDS = (
    "function return array this self public private static class extends require_once global if else "
    "foreach while echo null true false string int module record field account contact opportunity "
    "lead invoice quote case project user team language label query where select from order by limit"
).split()


def package_entries(files: int, seed: int = 7) -> list[Entry]:
    """A tree shaped like a 1CRM update package: PHP, JS and language files (text that compresses
    3-6:1), some images (random bytes, incompressible), one folder per module."""
    rng = random.Random(seed)
    out: list[Entry] = [folder("1crm-update"), folder("1crm-update/include")]
    modules = [f"Module{n:03d}" for n in range(max(files // 60, 1))]
    for name in modules:
        out.append(folder(f"1crm-update/modules/{name}"))
    for n in range(files):
        module = modules[n % len(modules)]
        if n % 25 == 0:
            out.append(
                file(
                    f"1crm-update/modules/{module}/images/icon{n}.png", rng.randbytes(rng.randint(500, 6000))
                )
            )
            continue
        lines = [
            " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12))) + f" ${rng.randint(0, 99999)};"
            for _ in range(rng.randint(5, 80))
        ]
        suffix = ("php", "js", "lang.php")[n % 3]
        out.append(file(f"1crm-update/modules/{module}/file{n}.{suffix}", "\n".join(lines).encode()))
    out.append(file("1crm-update/include/version.php", b"<?php $version = '8.6.9';\n"))
    return out


def snapshot(root: Path) -> dict[str, tuple[str, bytes]]:
    """Every entry below (and around) root, byte for byte: (kind, content or link target)."""
    out: dict[str, tuple[str, bytes]] = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = ("link", str(path.readlink()).encode())
        elif path.is_dir():
            out[rel] = ("dir", oct(path.stat().st_mode).encode())
        else:
            st = path.stat()
            out[rel] = ("file", path.read_bytes() + f"|{st.st_mode:o}|{st.st_mtime_ns}".encode())
    return out


#: what a Windows extractor refuses on top of HOSTILE (zip only, as on Windows)
WINDOWS_HOSTILE: dict[str, tuple[list[Entry], str, tuple[str, ...]]] = {
    "names-differ-by-case": ([file("Setup/Config.ini", b"one"), file("setup/CONFIG.INI", b"two")], "unsafe",
                             ("setup/CONFIG.INI:", "duplicate", "differ only by case")),
    "folder-differs-by-case": ([folder("Bin"), file("bin/y.dll"), file("BIN/Y.DLL")], "unsafe", ("BIN/Y.DLL:", "duplicate")),
    "reserved-characters": ([file("good.txt"), file("a<b>.txt")], "unsafe", ("a<b>.txt:", "Windows cannot hold")),
}  # fmt: skip
