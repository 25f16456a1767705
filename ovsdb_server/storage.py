"""The OVSDB database file: Open vSwitch's standalone format (ovsdb(5)), both ways.

Theory of operation
-------------------
A database file is an append-only series of records.  Each record is a header line
``OVSDB JSON <len> <sha1>\\n`` followed by ``<len>`` bytes of compact JSON ending in
``\\n``; the SHA-1 (40 lower-case hex digits) covers exactly those ``<len>`` bytes.
Record 0 is the schema; every later record is one committed transaction, or a
snapshot of all rows written by compaction.  The engine builds the record objects
(``_date``, ``_comment``, ``_is_diff``, tables -> {uuid: row-or-null}); this module
only frames, checksums, writes, reads, locks, truncates and compacts.

``parse_records``/``encode_record`` are pure (no I/O).  ``DbFile`` owns one open
file and its lock and is not safe to share between threads; its calls block.

Invariants
~~~~~~~~~~
* An acknowledged append is in the file: ``append`` returns only after ``write()``
  has taken every byte (so a ``kill -9`` afterwards loses nothing); ``durable=True``
  adds ``fdatasync`` (what ovsdb-server's commit does) against power loss.
* Reading stops at the first torn or corrupt record and keeps everything before it,
  as OVS does (later records are ignored even if intact).  ``torn`` says why.  The
  first write after ``open`` truncates the file at the end of the last good record,
  so a torn tail never sits in front of new records.  A bad record 0 is fatal.
* Compaction is atomic by rename: the schema and one snapshot go to ``<file>.tmp``
  (``<file>`` with symlinks followed), which is synced and renamed over the file,
  then the directory is synced.  A crash leaves either the old file or the new one.
* The lock is OVS's: an fcntl write lock on ``<dir>/.<name>.~lock~`` held for as
  long as the file is open, so we and a real ovsdb-server / ``ovsdb-tool transact``
  exclude each other.  fcntl locks belong to the process, and closing *any*
  descriptor of the lock file drops them, so locks held by this process are also
  recorded in a table and checked (by stat) before the lock file is opened.

Error texts copy Open vSwitch's (``ovsdb_error_to_string``): ``str(StorageError)``
is e.g. ``I/O error: conf.db: failed to lock lockfile (Resource temporarily
unavailable)``, and ``DbFile.torn`` is what ovsdb-server logs for a torn tail.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import random
import re
import struct
import threading
import time

__all__ = ["StorageError", "parse_records", "encode_record", "DbFile", "lockfile_name"]

log = logging.getLogger(__name__)

MAGIC = "JSON"  # "OVSDB CLUSTER" (raft) files are out of scope
_HEADER_RE = re.compile(rb"OVSDB ([^ \n]*) ([0-9]+) ([0-9a-fA-F]{40})\n")
_HEADER_MAX = 127  # OVS reads the header line with fgets(buf, 128)
_MAGIC_END_RE = re.compile(rb"[ \0]")

# ovsdb_error categories, as OVS prints them.
IO_ERROR = "I/O error"
SYNTAX_ERROR = "syntax error"
OVSDB_ERROR = "ovsdb error"

# Automatic compaction (ovsdb/storage.c, ovsdb/log.c).
COMPACT_MIN_DELAY = 10 * 60.0     # never sooner than this after open/compaction...
COMPACT_DELAY_RANGE = 10 * 60.0   # ...plus a random part, so servers don't sync up
COMPACT_MAX_DELAY = 24 * 3600.0   # then unconditionally once a day
COMPACT_MIN_RECORDS = 100
COMPACT_MIN_SIZE = 10 * 1024 * 1024


class StorageError(Exception):
    """A database file could not be created, opened, locked, read or written.

    ``str()`` is Open vSwitch's text, ``"<kind>: <detail>"``; ``kind`` is one of
    ``IO_ERROR``, ``SYNTAX_ERROR``, ``OVSDB_ERROR`` and ``detail`` starts with the
    file name as the caller gave it.
    """

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def _io_error(err: int | OSError, detail: str) -> StorageError:
    code = err.errno if isinstance(err, OSError) else err
    return StorageError(IO_ERROR, f"{detail} ({os.strerror(code)})")


# --------------------------------------------------------------------------- framing

def encode_record(obj: dict) -> bytes:
    """One complete record: header line, then compact JSON and its ``\\n``."""
    if not isinstance(obj, dict):
        raise TypeError("an OVSDB record must be a JSON object")
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8") + b"\n"
    digest = hashlib.sha1(body).hexdigest()
    return b"OVSDB %s %d %s\n" % (MAGIC.encode(), len(body), digest.encode()) + body


def _header_text(buf: bytes) -> bytes:
    """What OVS quotes of a bad header line: its parser cuts the line after the magic."""
    buf = buf[:buf.find(b"\n") + 1] if b"\n" in buf else buf  # what fgets() read
    if buf.startswith(b"OVSDB "):
        m = _MAGIC_END_RE.search(buf, 6)
        if m and buf[m.start():m.start() + 1] == b" ":
            buf = buf[:m.start()]
    return re.split(rb"[\n\0]", buf, maxsplit=1)[0]


def _parse(data: bytes) -> tuple[list[dict], list[int], tuple[str, str] | None]:
    """Parse records until the end or the first bad one.

    Returns (records, end offset of each record, (kind, text) of the error or None).
    The texts are OVS's minus the "<file>: " prefix.
    """
    records: list[dict] = []
    ends: list[int] = []
    pos = 0
    while pos < len(data):
        m = _HEADER_RE.match(data, pos)
        length = int(m.group(2)) if m else 0
        if (not m or m.end() - pos > _HEADER_MAX or length == 0
                or m.group(1).decode("ascii", "replace") != MAGIC):
            text = _header_text(data[pos:pos + _HEADER_MAX]).decode("utf-8", "replace")
            return records, ends, (SYNTAX_ERROR, f'parse error at offset {pos} '
                                                 f'in header line "{text}"')
        start = m.end()
        body = data[start:start + length]
        if len(body) < length:
            return records, ends, (IO_ERROR, f"error reading {length} bytes starting "
                                             f"at offset {start} (End of file)")
        actual = hashlib.sha1(body).hexdigest()
        expected = m.group(3).decode().lower()
        if actual != expected:
            return records, ends, (SYNTAX_ERROR, f"{length} bytes starting at offset "
                                                 f"{start} have SHA-1 hash {actual} "
                                                 f"but should have hash {expected}")
        try:
            obj = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError) as e:  # incl. UnicodeDecodeError
            return records, ends, (SYNTAX_ERROR, f"{length} bytes starting at offset "
                                                 f"{start} are not valid JSON ({e})")
        if not isinstance(obj, dict):
            return records, ends, (SYNTAX_ERROR, f"{length} bytes starting at offset "
                                                 f"{start} are not a JSON object")
        records.append(obj)
        pos = start + length
        ends.append(pos)
    return records, ends, None


def parse_records(data: bytes) -> tuple[list[dict], int, str | None]:
    """Parse a whole file's bytes.

    Returns (every good record including record 0, offset just after the last good
    record, text of the error that stopped parsing early or None).
    """
    records, ends, error = _parse(data)
    return records, (ends[-1] if ends else 0), (error[1] if error else None)


def _check_schema(obj: object) -> bool:
    return (isinstance(obj, dict) and isinstance(obj.get("name"), str)
            and isinstance(obj.get("tables"), dict))


# --------------------------------------------------------------------------- locking

def _follow_symlinks(name: str) -> str:
    """The final target of 'name' if it is a chain of symlinks, as OVS resolves it."""
    for _ in range(10):
        try:
            target = os.readlink(name)
        except OSError:
            return name
        if not os.path.isabs(target) and "/" in name:
            target = os.path.join(os.path.dirname(name), target)
        name = target
    return name


def lockfile_name(path: str | os.PathLike) -> str:
    """``<dir>/.<name>.~lock~`` for the file 'path' (symlinks followed), as OVS names it."""
    target = _follow_symlinks(os.fspath(path))
    head, tail = os.path.split(target)
    return os.path.join(head, f".{tail}.~lock~")


_locks_mutex = threading.Lock()
_held_locks: dict[tuple[int, int], int] = {}  # (st_dev, st_ino) of lock file -> its fd


def _lock_holder(fd: int) -> int:
    """Pid holding a conflicting lock on 'fd' (Linux struct flock layout), or 0."""
    try:
        query = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        l_type, _, _, _, pid = struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, query))
    except (OSError, struct.error):
        return 0
    return pid if l_type != fcntl.F_UNLCK else 0


def _lock(path: str) -> tuple[int, tuple[int, int]]:
    """Take OVS's lock for 'path'.  Returns (fd, key); raises StorageError."""
    name = lockfile_name(path)
    with _locks_mutex:
        try:
            st = os.stat(name)
        except FileNotFoundError:
            st = None
        except OSError as e:
            raise _io_error(e, f"{path}: failed to lock lockfile") from None
        if st is not None and (st.st_dev, st.st_ino) in _held_locks:
            log.warning("%s: cannot lock file because this process has already locked it",
                        name)
            raise _io_error(errno.EDEADLK, f"{path}: failed to lock lockfile")
        try:
            fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise _io_error(e, f"{path}: failed to lock lockfile") from None
        try:
            st = os.fstat(fd)
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # F_SETLK, whole file
        except OSError as e:
            code = errno.EAGAIN if e.errno == errno.EACCES else e.errno
            pid = _lock_holder(fd) if code == errno.EAGAIN else 0
            os.close(fd)
            if pid:
                log.warning("%s: cannot lock file because it is already locked by pid %d",
                            name, pid)
            raise _io_error(code, f"{path}: failed to lock lockfile") from None
        key = (st.st_dev, st.st_ino)
        _held_locks[key] = fd
        return fd, key


def _unlock(fd: int, key: tuple[int, int]) -> None:
    with _locks_mutex:
        if _held_locks.get(key) == fd:
            del _held_locks[key]
        os.close(fd)  # closing drops the fcntl lock


# --------------------------------------------------------------------------- file I/O

def _fsync_dir(path: str) -> None:
    """Make a created or renamed directory entry durable (errors ignored, as in OVS)."""
    try:
        fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _datasync(fd: int) -> None:
    # fdatasync, like ovsdb_log_commit_block(): the size change is still synced.
    (os.fdatasync if hasattr(os, "fdatasync") else os.fsync)(fd)


class DbFile:
    """One open standalone database file and its lock.

    Attributes: ``name`` (the path as given), ``schema_json`` (record 0),
    ``records`` (every later good record as read by ``open``; not extended by
    ``append``, so the engine may drop it after replaying), ``torn`` (why reading
    stopped early, or None), ``n_records`` (records now in the file, schema
    included), ``size`` (bytes of good records now in the file),
    ``next_compact_min``/``next_compact_max`` (compaction window, see should_compact).
    """

    name: str
    schema_json: dict
    records: list[dict]
    torn: str | None
    n_records: int
    size: int

    def __init__(self) -> None:  # use open()
        self._fd = -1
        self._lock: tuple[int, tuple[int, int]] | None = None

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def create(cls, path: str | os.PathLike, schema_json: dict) -> None:
        """Create a new database file holding only 'schema_json', like ``ovsdb-tool create``."""
        name = os.fspath(path)
        if not _check_schema(schema_json):
            raise StorageError(OVSDB_ERROR, f"{name}: not a database schema")
        data = encode_record(schema_json)
        lock = _lock(name)
        try:
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            if os.path.islink(name) and not os.path.exists(name):
                # O_EXCL refuses a dangling symlink; create its target (as OVS does).
                flags &= ~os.O_EXCL
            try:
                fd = os.open(name, flags, 0o660)
            except OSError as e:
                raise _io_error(e, f"{name}: create failed") from None
            try:
                _write_all(fd, data, 0)
                _datasync(fd)
            except OSError as e:
                try:
                    os.unlink(name)  # leave nothing half-made behind
                except OSError:
                    pass
                raise _io_error(e, f"{name}: write failed") from None
            finally:
                os.close(fd)
            _fsync_dir(name)
        finally:
            _unlock(*lock)

    @classmethod
    def open(cls, path: str | os.PathLike, *, lock: bool = True,
             now: float | None = None) -> "DbFile":
        """Lock (unless lock=False, which gives a read-only view) and read a database file.

        'now' is the clock for compaction scheduling (see should_compact); it
        defaults to time.monotonic().
        """
        self = cls()
        self.name = os.fspath(path)
        if lock:
            self._lock = _lock(self.name)
        try:
            self._read(writable=lock)
        except BaseException:
            self.close()
            raise
        self._log_len = self.n_records  # OVS's n_read + n_written; never reset
        self._schedule_compaction(time.monotonic() if now is None else now, quick=False)
        return self

    def _read(self, *, writable: bool) -> None:
        name = self.name
        try:
            self._fd = os.open(name, (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC)
        except OSError as e:
            raise _io_error(e, f"{name}: open failed") from None
        chunks = []
        try:
            while chunk := os.read(self._fd, 1 << 20):
                chunks.append(chunk)
        except OSError as e:
            raise _io_error(e, f"{name}: read failed") from None
        data = b"".join(chunks)

        # Identify the file by its first line, as ovsdb_log_open() does.
        if not data:
            raise StorageError(OVSDB_ERROR, f"{name}: cannot identify file type")
        m = _HEADER_RE.match(data)
        if not m or int(m.group(2)) == 0:
            raise StorageError(OVSDB_ERROR, f"{name}: unexpected file format")
        if m.group(1) == b"CLUSTER":
            raise StorageError(OVSDB_ERROR, f"{name}: clustered database files "
                                            "are not supported")
        if m.group(1) != MAGIC.encode():
            raise StorageError(OVSDB_ERROR, f"{name}: cannot identify file type")

        records, ends, error = _parse(data)
        if not records:  # the schema record itself is torn or corrupt
            kind, text = error
            raise StorageError(kind, f"{name}: {text}")
        if not _check_schema(records[0]):
            raise StorageError(OVSDB_ERROR, f"{name}: record 0 is not a schema")
        self.schema_json = records[0]
        self.records = records[1:]
        self.torn = f"{error[0]}: {name}: {error[1]}" if error else None
        self.n_records = len(records)
        self.size = ends[-1]
        # Growth is measured from the end of the first record after the schema
        # (a compacted file's snapshot), as ovsdb_log_mark_base() does.
        self._base = ends[1] if len(ends) > 1 else 0
        self._truncated = False

    def close(self) -> None:
        """Close the file and release the lock.  Idempotent."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock is not None:
            _unlock(*self._lock)
            self._lock = None

    def __enter__(self) -> "DbFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_writable(self) -> None:
        if self._fd < 0:
            raise StorageError(IO_ERROR, f"{self.name}: file is closed")
        if self._lock is None:
            raise StorageError(OVSDB_ERROR, f"{self.name}: opened read-only (without lock)")

    # ----------------------------------------------------------------- writing

    def append(self, record: dict, *, durable: bool = False) -> None:
        """Write one record; on return every byte has been handed to write()."""
        self._check_writable()
        data = encode_record(record)
        if not self._truncated:
            # First write since open: drop any torn tail (ovsdb_log_truncate()).
            try:
                os.ftruncate(self._fd, self.size)
            except OSError as e:
                raise _io_error(e, f"{self.name}: cannot truncate to length "
                                   f"{self.size}") from None
            self._truncated = True
        try:
            _write_all(self._fd, data, self.size)
        except OSError as e:
            log.warning("%s: write failed (%s)", self.name, os.strerror(e.errno))
            try:  # remove any partial record so the file stays well-formed
                os.ftruncate(self._fd, self.size)
            except OSError:
                pass
            raise _io_error(e, f"{self.name}: write failed") from None
        self.size += len(data)
        self.n_records += 1
        self._log_len += 1
        if durable:
            try:
                _datasync(self._fd)
            except OSError as e:
                raise _io_error(e, f"{self.name}: fsync failed") from None

    def compact(self, schema_json: dict, snapshot: dict, *, now: float | None = None) -> None:
        """Atomically replace the file by 'schema_json' plus one 'snapshot' record.

        On failure the old file is untouched and still in use, and the next
        automatic attempt is scheduled soon (1-2 min), as OVS does.
        """
        self._check_writable()
        now = time.monotonic() if now is None else now
        if not _check_schema(schema_json):
            raise StorageError(OVSDB_ERROR, f"{self.name}: not a database schema")
        head, tail = encode_record(schema_json), encode_record(snapshot)
        target = _follow_symlinks(self.name)
        tmp = target + ".tmp"
        fd = -1
        try:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            except OSError as e:
                raise _io_error(e, f"failed to remove {tmp}") from None
            try:
                fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o660)
                _write_all(fd, head + tail, 0)
                _datasync(fd)
            except OSError as e:
                raise _io_error(e, f"{tmp}: write failed") from None
            try:
                os.rename(tmp, target)
            except OSError as e:
                raise _io_error(e, f'failed to rename "{tmp}" to "{target}"') from None
        except StorageError:
            if fd >= 0:
                os.close(fd)
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            self._schedule_compaction(now, quick=True)
            raise
        _fsync_dir(target)
        os.close(self._fd)
        self._fd = fd
        self.schema_json = schema_json
        self.size = self._base = len(head) + len(tail)
        self.n_records = 2
        self._truncated = True
        self._schedule_compaction(now, quick=False)

    # ----------------------------------------------------------------- compaction policy

    def _schedule_compaction(self, now: float, *, quick: bool) -> None:
        # schedule_next_snapshot(): a quick retry (after a failure) is a tenth of
        # the delay and keeps the daily deadline.
        scale = 0.1 if quick else 1.0
        self.next_compact_min = now + scale * (COMPACT_MIN_DELAY
                                               + random.uniform(0, COMPACT_DELAY_RANGE))
        if not quick:
            self.next_compact_max = now + COMPACT_MAX_DELAY

    def should_compact(self, now: float) -> bool:
        """Whether Open vSwitch would compact now (ovsdb_storage_should_snapshot()).

        Not before ``next_compact_min`` (10-20 min after open or the last
        compaction).  Then if at least 100 records were read or written since
        open and the file is over 10 MiB and more than twice its size after the
        last compaction (or at open); or, from ``next_compact_max`` (24 h after
        open or the last compaction) on, if any record was read or written.  As
        in OVS the count includes record 0 and is not reset by compaction, so
        the daily compaction always happens.
        """
        if now < self.next_compact_min:
            return False
        if now < self.next_compact_max:
            grew_lots = self.size > COMPACT_MIN_SIZE and self.size // 2 > self._base
            return self._log_len >= COMPACT_MIN_RECORDS and grew_lots
        return self._log_len > 0
