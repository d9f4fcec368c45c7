"""Load a mysqldump/mariadb-dump file with several client connections at once, on the database host.

    python3 mysql_load.py DUMP WORKERS CLIENT [CLIENT ARGS ...]     (WORKERS 0: one per core, up to 4)

A dump of one database is a header of session settings, one section per table (structure,
data, the table's triggers) and a tail (views, events, routines, the settings restored). The
sections do not depend on each other: the header turns foreign key and unique checks off for
the session, every section creates its own table, and views are created in the tail. Tables
tied by a foreign key are the exception (the server wants the other table locked too while it
loads one under LOCK TABLES): they stay together, in the dump's order, on one client. So WORKERS
clients (the `mariadb`/`mysql` command given) each get the header and then whole groups of
sections, largest first, from the file itself (the kernel copies it into the client's pipe);
when all are done, one more client gets the header and the tail. On two cores the server inserts into two
tables at once, which is most of a restore's time.

A dump this does not recognise (no table sections; a header with anything but session `SET`s,
e.g. `CREATE DATABASE`/`USE` of `--databases` or a global GTID setting) goes to one client
whole, as `CLIENT < DUMP` would. Exit status: 0, the first failing client's (its stderr
passed on), or 127 with "not found" when CLIENT is not installed (the caller tries the next).

Runs on the database host with its own Python (stdlib only, Python >= 3.8): the controller
sends this file's source with `python3 -c`. The password travels in MYSQL_PWD, never in argv.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

#: where a section starts (mysqldump writes "--\n-- <title>\n--" before each part)
SECTION = (b"\n--\n-- Table structure for table ", b"\n--\n-- Temporary table structure for view ")
#: where the tail starts: what must come after every table (views, events, routines, settings)
TAIL = (
    b"\n--\n-- Final view structure for view ",
    b"\n--\n-- Dumping events for database ",
    b"\n--\n-- Dumping routines for database ",
    b"\n/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;",
)
#: header lines that are safe to run once per client: comments and session settings
_SESSION_LINE = re.compile(
    rb"^(?:|--.*|/\*M!999999\\- enable the sandbox mode \*/ ?|/\*!\d+ SET (?!@@GLOBAL)[^;]*\*/;)$"
)
_BLOCK = 1 << 24
_CHUNK = 1 << 20


def scan(path: str) -> tuple[int, list[tuple[int, int]], int] | None:
    """(end of header, [(start, end) of each section], start of tail), or None: load it whole."""
    starts: list[int] = []
    tail = os.path.getsize(path)
    keep = max(len(m) for m in SECTION + TAIL)
    with open(path, "rb") as fh:
        offset, carry = 0, b""
        while True:
            block = fh.read(_BLOCK)
            if not block:
                break
            data, base = carry + block, offset - len(carry)
            for mark in SECTION:
                found = data.find(mark)
                while found >= 0:
                    starts.append(base + found + 1)
                    found = data.find(mark, found + 1)
            for mark in TAIL:
                found = data.find(mark)
                if found >= 0:
                    tail = min(tail, base + found + 1)
            carry, offset = data[-keep:], offset + len(block)
    starts = sorted({s for s in starts if s < tail})
    if not starts:
        return None
    ends = starts[1:] + [tail]
    return starts[0], [(start, ends[i]) for i, start in enumerate(starts)], tail


_NAME = re.compile(rb"^-- (?:Table structure for table|Temporary table structure for view) (`(?:[^`]|``)+`)")
_REFERENCES = re.compile(rb"\) REFERENCES (`(?:[^`]|``)+`)")
_DATA = b"\n--\n-- Dumping data for table "


def groups(fd: int, sections: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """The sections in groups that can load at once: tables tied by foreign keys share a group."""
    names, parent = [], {}
    for start, end in sections:
        head = os.pread(fd, min(end - start, 1 << 16), start)
        head = head[: head.find(_DATA)] if _DATA in head else head
        found = _NAME.match(head[3:] if head.startswith(b"--\n") else head)
        name = found.group(1) if found else b"%d" % start
        names.append(name)
        parent.setdefault(name, name)
        for other in _REFERENCES.findall(head):
            parent.setdefault(other, other)
            parent[_root(parent, other)] = _root(parent, name)
    out: dict[bytes, list[tuple[int, int]]] = {}
    for name, section in zip(names, sections):  # noqa: B905 - the same length; Python 3.8 has no strict
        out.setdefault(_root(parent, name), []).append(section)
    return sorted(out.values(), key=lambda g: -sum(end - start for start, end in g))


def _root(parent: dict[bytes, bytes], name: bytes) -> bytes:
    while parent[name] != name:
        parent[name] = parent[parent[name]]
        name = parent[name]
    return name


def _session_only(header: bytes) -> bool:
    return all(_SESSION_LINE.match(line) for line in header.split(b"\n"))


def _copy(src: int, dst: int, start: int, end: int) -> None:
    """Bytes [start, end) of file `src` into pipe `dst`: sendfile (no copy through Python) where it works."""
    position = start
    while position < end:
        try:
            sent = os.sendfile(dst, src, position, min(end - position, 1 << 30))
        except OSError as exc:
            if exc.errno not in (22, 38):  # EINVAL/ENOSYS: this kernel or file system cannot
                raise
            sent = 0
        if sent == 0:
            break
        position += sent
    while position < end:
        chunk = os.pread(src, min(end - position, _CHUNK), position)
        if not chunk:
            return
        os.write(dst, chunk)
        position += len(chunk)


class Client:
    """One client process fed through its stdin; its stderr is kept for the failure message."""

    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.errors = b""
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        self.errors = self.proc.stderr.read()

    def send(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def finish(self) -> int:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait()
        self._drain.join()
        return self.proc.returncode


def load(path: str, workers: int, client: list[str]) -> int:
    found = scan(path) if workers > 1 else None
    with open(path, "rb") as fh:
        header = fh.read(found[0]) if found else b""
    if found is None or not _session_only(header):
        with open(path, "rb") as fh:
            return subprocess.call(client, stdin=fh)
    _, sections, tail = found
    fd = os.open(path, os.O_RDONLY)
    todo = groups(fd, sections)  # largest first: the last to start are short
    lock = threading.Lock()
    failed: list[Client] = []

    def work(fd: int) -> None:
        worker = Client(client)
        try:
            worker.send(header)
            while True:
                with lock:
                    if not todo or failed:
                        break
                    group = todo.pop(0)
                for start, end in group:
                    _copy(fd, worker.proc.stdin.fileno(), start, end)
        except BrokenPipeError:
            pass  # the client stopped at an error: its status and stderr say which
        if worker.finish() != 0:
            failed.append(worker)

    try:
        threads = [threading.Thread(target=work, args=(fd,)) for _ in range(min(workers, len(todo)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failed:
            sys.stderr.buffer.write(failed[0].errors)
            return failed[0].proc.returncode or 1
        last = Client(client)
        try:
            last.send(header)
            _copy(fd, last.proc.stdin.fileno(), tail, os.fstat(fd).st_size)
        except BrokenPipeError:
            pass
        status = last.finish()
        sys.stderr.buffer.write(last.errors)
        return status
    finally:
        os.close(fd)


def main() -> None:
    path, workers, client = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if workers <= 0:  # as many clients as the host has cores, up to 4
        workers = min(4, os.cpu_count() or 1)
    try:
        os.stat(path)
    except OSError as exc:
        print(f"cannot read the dump {path}: {exc.strerror}", file=sys.stderr)
        sys.exit(2)
    try:
        status = load(path, workers, client)
    except FileNotFoundError as exc:
        missing = exc.filename or client[0]
        print(f"{missing}: not found", file=sys.stderr)
        status = 127
    sys.exit(status)


if __name__ == "__main__":
    main()
