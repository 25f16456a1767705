"""Daemon conventions shared by pyovsdb-server and pyovs-vswitchd (no trio here).

Theory of operation
-------------------
Stock tools find an Open vSwitch daemon through files in well-known
directories, so we reproduce them exactly:

* ``rundir()``/``dbdir()``/``logdir()`` honour ``OVS_RUNDIR``, ``OVS_DBDIR``
  (else ``$OVS_SYSCONFDIR/openvswitch``) and ``OVS_LOGDIR`` with Debian's
  defaults, as ``lib/dirs.c`` does.
* The pidfile ``$OVS_RUNDIR/<program>.pid`` holds ``<pid>\\n`` and is
  fcntl-locked (POSIX record lock) by that pid for the daemon's life:
  ``ovs-appctl -t <program>`` checks the lock with F_GETLK, then connects to
  ``$OVS_RUNDIR/<program>.<pid>.ctl``.  The pidfile is written to a locked
  temporary file first and renamed into place, so a reader never sees a
  half-written or unlocked pidfile.
* ``--detach``: ``start_daemon()`` forks before trio starts.  The parent
  blocks on a pipe and exits 0 once the child calls ``daemonize_complete()``
  (listeners bound); if the child dies first the parent exits with the child's
  status.  The child keeps the caller's stderr until then, so a startup
  failure is reported on the terminal exactly as by Open vSwitch.
* Logging is Python ``logging`` rendered as Open vSwitch's vlog: modules are
  named loggers registered with ``get_logger(name)`` (they still propagate to
  the root logger, so pytest's caplog sees them), each with one level per
  destination (console, syslog, file), controlled by ``-v`` specs and the
  ``vlog/*`` unixctl commands.  One ``VlogHandler`` numbers every message
  (``%05N``) once and writes it to each destination whose level admits it.
  The syslog destination keeps its levels (for ``vlog/list`` and message
  numbering) but is not emitted.
* Exit: ``exit_process(signum)`` removes the pidfile (if still ours), then
  dies by ``signum`` as Open vSwitch's fatal-signal code does, or exits 0.
"""
from __future__ import annotations

import argparse
import atexit
import errno
import fcntl
import logging
import os
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import NoReturn

PACKAGE = "pyvswitch"
VERSION = "0.1.0"

# Debian's build of Open vSwitch (observed in its binaries).
DEFAULT_RUNDIR = "/var/run/openvswitch"
DEFAULT_LOGDIR = "/var/log/openvswitch"
DEFAULT_DBDIR = "/etc/openvswitch"


def _env_dir(var: str, default: str) -> str:
    return os.environ.get(var) or default


def rundir() -> str:
    return _env_dir("OVS_RUNDIR", DEFAULT_RUNDIR)


def logdir() -> str:
    return _env_dir("OVS_LOGDIR", DEFAULT_LOGDIR)


def dbdir() -> str:
    if os.environ.get("OVS_DBDIR"):
        return os.environ["OVS_DBDIR"]
    sysconf = os.environ.get("OVS_SYSCONFDIR")
    return f"{sysconf}/openvswitch" if sysconf is not None else DEFAULT_DBDIR


def abs_file_name(base: str, name: str) -> str:
    """`name` made absolute relative to `base` (lib/util.c abs_file_name)."""
    if name.startswith("/"):
        return name
    return base + ("" if base.endswith("/") else "/") + name


def version_string(program: str, version: str = VERSION) -> str:
    """`<program> (pyvswitch) 0.1.0`, shaped like `ovsdb-server (Open vSwitch) 3.1.0`."""
    return f"{program} ({PACKAGE}) {version}"


# ---------------------------------------------------------------------------
# vlog: levels, destinations, patterns

LEVELS = ("OFF", "EMER", "ERR", "WARN", "INFO", "DBG")      # OVS order: more verbose later
OFF, EMER, ERR, WARN, INFO, DBG = range(6)
DESTINATIONS = ("console", "syslog", "file")
CONSOLE, SYSLOG, FILE = range(3)
_PY_LEVEL = {OFF: logging.CRITICAL + 100, EMER: logging.CRITICAL, ERR: logging.ERROR,
             WARN: logging.WARNING, INFO: logging.INFO, DBG: logging.DEBUG}
_SYSLOG_SEVERITY = {EMER: 1, ERR: 3, WARN: 4, INFO: 5, DBG: 7}   # LOG_ALERT..LOG_DEBUG
_FACILITIES = {name: i << 3 for i, name in enumerate(
    ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp",
     "clock", "authpriv", "ftp", "ntp", "audit", "alert", "clock2"))}
_FACILITIES.update({f"local{i}": (16 + i) << 3 for i in range(8)})
DEFAULT_PATTERNS = ("%D{%Y-%m-%dT%H:%M:%SZ}|%05N|%c%T|%p|%m",      # console
                    "ovs|%05N|%c%T|%p|%m",                          # syslog
                    "%D{%Y-%m-%dT%H:%M:%S.###Z}|%05N|%c%T|%p|%m")   # file
SYSLOG_PREFIX = "<%B> %D{%h %e %T} %E %A:"
# Modules our daemons speak for even before any code logs through them.
STANDARD_MODULES = ("daemon_unix", "fatal_signal", "jsonrpc", "poll_loop", "reconnect",
                    "stream", "timeval", "unixctl", "vlog")
_DELIMS = re.compile(r"[ ,:\t]+")
_PATTERN_ITEM = re.compile(r"%(-?)(0?)(\d*)(.)")


def _ovs_level(levelno: int) -> int:
    if levelno >= logging.CRITICAL:
        return EMER
    if levelno >= logging.ERROR:
        return ERR
    if levelno >= logging.WARNING:
        return WARN
    return INFO if levelno >= logging.INFO else DBG


def _strtok(s: str, pos: int) -> tuple[str | None, int]:
    """C strtok_r over " ,:\\t": (next token or None, position just past its delimiter)."""
    m = _DELIMS.match(s, pos)
    if m:
        pos = m.end()
    if pos >= len(s):
        return None, len(s)
    m = _DELIMS.search(s, pos)
    if not m:
        return s[pos:], len(s)
    return s[pos:m.start()], m.start() + 1


class VlogError(Exception):
    """A bad vlog spec; the text is Open vSwitch's."""


class Vlog:
    """Per-module, per-destination levels, patterns and the log file."""

    def __init__(self, program: str = "pyvswitch"):
        self.program = program
        self.levels: dict[str, list[int]] = {}
        self.patterns = list(DEFAULT_PATTERNS)
        self.facility = 0
        self.log_file: str | None = None
        self.log_fd = -1
        self.msg_num = 0
        self.boot = time.time()
        self.handler = VlogHandler(self)
        for name in STANDARD_MODULES:
            self.module(name)

    # -- modules and levels
    def module(self, name: str) -> logging.Logger:
        logger = logging.getLogger(name)
        if name not in self.levels:
            self.levels[name] = [INFO, INFO, INFO]
            logger.addHandler(self.handler)
            self._update(name)
        return logger

    def _update(self, name: str) -> None:
        lv = self.levels[name]
        active = [lv[CONSOLE], lv[SYSLOG]] + ([lv[FILE]] if self.log_fd >= 0 else [])
        logging.getLogger(name).setLevel(_PY_LEVEL[max(active)])

    def set_levels(self, module: str | None, dest: int | None, level: int) -> None:
        for name in ([module] if module else list(self.levels)):
            for d in ([dest] if dest is not None else range(3)):
                self.levels[name][d] = level
            self._update(name)

    def set_from_string(self, spec: str) -> None:
        """Apply one vlog spec (vlog_set_levels_from_string); raise VlogError."""
        word, pos = _strtok(spec, 0)
        if word is not None and word.lower() == "pattern":
            word, pos = _strtok(spec, pos)
            if word is None:
                raise VlogError("missing destination")
            if word.lower() == "any":
                dests = range(3)
            elif word.lower() in DESTINATIONS:
                dests = [DESTINATIONS.index(word.lower())]
            else:
                raise VlogError(f'unknown destination "{word}"')
            for d in dests:
                self.patterns[d] = spec[pos:]
            return
        if word is not None and word.lower() == "facility":
            value = _FACILITIES.get(spec[pos:].lower())
            if value is None:
                raise VlogError("invalid facility")
            self.facility = value
            return
        module = dest = level = None
        lower_modules = {n.lower(): n for n in self.levels}
        while word is not None:
            w = word.lower()
            if w == "any":
                pass
            elif w in DESTINATIONS:
                if dest is not None:
                    raise VlogError("cannot specify multiple destinations")
                dest = DESTINATIONS.index(w)
            elif w.upper() in LEVELS:
                if level is not None:
                    raise VlogError("cannot specify multiple levels")
                level = LEVELS.index(w.upper())
            elif w in lower_modules:
                if module is not None:
                    raise VlogError("cannot specify multiple modules")
                module = lower_modules[w]
            else:
                raise VlogError(f'no destination, level, or module "{word}"')
            word, pos = _strtok(spec, pos)
        self.set_levels(module, dest, DBG if level is None else level)

    def list_levels(self) -> str:
        rows = sorted("%-16s  %4s       %4s       %4s\n" % (name, *(LEVELS[x] for x in lv))
                      for name, lv in self.levels.items())
        return ("                 console    syslog    file\n"
                "                 -------    ------    ------\n" + "".join(rows))

    def list_patterns(self) -> str:
        out = ["         prefix                            format\n",
               "         ------                            ------\n"]
        for d in (SYSLOG, CONSOLE, FILE):               # Open vSwitch's enum order
            prefix = SYSLOG_PREFIX if d == SYSLOG else "none"
            out.append("%-7s  %-32s  %s\n" % (DESTINATIONS[d].upper(), prefix, self.patterns[d]))
        return "".join(out)

    # -- log file
    def set_log_file(self, path: str) -> int:
        """Open (or switch to) `path`; return 0 or an errno, logging like vlog_set_log_file."""
        log = logging.getLogger("vlog")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o660)
        except OSError as e:
            log.warning("failed to open %s for logging: %s", path, e.strerror)
            return e.errno
        if self.log_fd >= 0:
            old, new = os.fstat(self.log_fd), os.fstat(fd)
            if (old.st_dev, old.st_ino) == (new.st_dev, new.st_ino):
                os.close(fd)
                return 0
            log.info("closing log file")
            os.close(self.log_fd)
        self.log_file, self.log_fd = path, fd
        for name in self.levels:
            self._update(name)
        log.info("opened log file %s", path)
        return 0

    def reopen(self) -> int:
        return self.set_log_file(self.log_file) if self.log_file else 0

    def close(self) -> None:
        if self.log_fd >= 0:
            os.close(self.log_fd)
            self.log_fd = -1
            for name in self.levels:
                self._update(name)

    # -- formatting
    def format(self, pattern: str, record: logging.LogRecord, module: str, level: int) -> str:
        out = []
        pos = 0
        while True:
            i = pattern.find("%", pos)
            if i < 0:
                out.append(pattern[pos:])
                break
            out.append(pattern[pos:i])
            m = _PATTERN_ITEM.match(pattern, i)
            if not m:
                break
            left, zero, width, conv = m.groups()
            pos = m.end()
            arg = None
            if conv in "cdD" and pattern.startswith("{", pos):
                end = pattern.find("}", pos)
                end = len(pattern) if end < 0 else end
                arg, pos = pattern[pos + 1:end], end + 1
            text = self._field(conv, arg, record, module, level)
            if width and len(text) < int(width):
                pad = int(width) - len(text)
                text = text + " " * pad if left else ("0" if zero else " ") * pad + text
            out.append(text)
        return "".join(out)

    def _field(self, conv, arg, record, module, level) -> str:
        if conv == "m":
            msg = record.getMessage()
            if record.exc_info:
                msg += "\n" + logging.Formatter().formatException(record.exc_info)
            return msg.rstrip("\n")
        if conv in "dD":
            fmt = arg if arg is not None else "%Y-%m-%d %H:%M:%S.###"
            t = record.created
            tm = time.gmtime(t) if conv == "D" else time.localtime(t)
            return time.strftime(fmt, tm).replace("###", "%03d" % (int(t * 1000) % 1000))
        return {
            "A": lambda: self.program,
            "B": lambda: str((self.facility or _FACILITIES["local0"]) + _SYSLOG_SEVERITY[level]),
            "c": lambda: module,
            "E": socket.gethostname,
            "N": lambda: str(self.msg_num),
            "n": lambda: "\n",
            "p": lambda: LEVELS[level],
            "P": lambda: str(os.getpid()),
            "r": lambda: str(int((record.created - self.boot) * 1000)),
            "t": lambda: "main",
            "T": lambda: "",
            "%": lambda: "%",
        }.get(conv, lambda: "")()


class VlogHandler(logging.Handler):
    """Writes each record to the destinations whose level for its module admits it."""

    def __init__(self, vlog: Vlog):
        super().__init__(logging.DEBUG)
        self.vlog = vlog

    def _module(self, name: str) -> str:
        levels = self.vlog.levels
        while name not in levels and "." in name:
            name = name.rsplit(".", 1)[0]
        return name if name in levels else "vlog"

    def emit(self, record: logging.LogRecord) -> None:
        vlog = self.vlog
        module = self._module(record.name)
        level = _ovs_level(record.levelno)
        lv = vlog.levels[module]
        console = lv[CONSOLE] >= level
        to_file = lv[FILE] >= level and vlog.log_fd >= 0
        if not (console or to_file or lv[SYSLOG] >= level):
            return
        vlog.msg_num += 1
        try:
            if console:
                sys.stderr.write(vlog.format(vlog.patterns[CONSOLE], record, module, level) + "\n")
                sys.stderr.flush()
            if to_file:
                line = vlog.format(vlog.patterns[FILE], record, module, level) + "\n"
                os.write(vlog.log_fd, line.encode(errors="replace"))
        except Exception:
            self.handleError(record)


VLOG = Vlog()


def get_logger(module: str) -> logging.Logger:
    """The logger for vlog module `module` (an Open vSwitch module name, e.g. "ovsdb_server")."""
    return VLOG.module(module)


def register_vlog_commands(server, vlog: Vlog = VLOG) -> None:
    """Register vlog/set, vlog/list, vlog/list-pattern, vlog/reopen, vlog/close on a
    UnixctlServer (duck-typed: register(name, usage, min, max, handler))."""
    from .unixctl import UnixctlError

    def vlog_set(args):
        if not args:                       # no argument: everything to dbg
            vlog.set_levels(None, None, DBG)
        for spec in args:
            try:
                vlog.set_from_string(spec)
            except VlogError as e:
                raise UnixctlError(str(e)) from None

    def vlog_reopen(args):
        if not vlog.log_file:
            raise UnixctlError("Logging to file not configured")
        err = vlog.reopen()
        if err:
            raise UnixctlError(os.strerror(err))

    server.register("vlog/set", "{spec | PATTERN:destination:pattern}", 0, 2**31 - 1, vlog_set)
    server.register("vlog/list", "", 0, 0, lambda args: vlog.list_levels())
    server.register("vlog/list-pattern", "", 0, 0, lambda args: vlog.list_patterns())
    server.register("vlog/reopen", "", 0, 0, vlog_reopen)
    server.register("vlog/close", "", 0, 0, lambda args: vlog.close())


# ---------------------------------------------------------------------------
# Options

# Long options whose argument is optional and, as with getopt, only given as --opt=VALUE.
_OPTIONAL_ARG = ("--pidfile", "--log-file", "--verbose")


class _VersionAction(argparse.Action):
    def __init__(self, option_strings, dest, program=None, **kw):
        super().__init__(option_strings, dest, nargs=0, **kw)
        self.program = program

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_string(self.program or parser.prog))
        parser.exit()


def _rewrite(args: list[str], long_opts: list[str]) -> list[str]:
    """Make getopt's optional-argument forms unambiguous for argparse:
    `--pidfile` -> `--pidfile=`, `-v` -> `--verbose=`, `-vSPEC` -> `--verbose=SPEC`."""
    out = []
    for i, a in enumerate(args):
        if a == "--":
            return out + args[i:]
        if a == "-v" or (a.startswith("-v") and not a.startswith("--")):
            out.append("--verbose=" + a[2:])
        elif a.startswith("--") and "=" not in a and len(a) > 2:
            exact = [o for o in long_opts if o == a]
            cands = exact or [o for o in long_opts if o.startswith(a)]
            if len(cands) == 1 and cands[0] in _OPTIONAL_ARG:
                out.append(cands[0] + "=")
            else:
                out.append(a)
        else:
            out.append(a)
    return out


def add_options(parser: argparse.ArgumentParser, program: str | None = None) -> None:
    """Add Open vSwitch's common daemon, logging and unixctl options to `parser`."""
    g = parser.add_argument_group("Daemon options")
    g.add_argument("--detach", action="store_true", help="run in background as daemon")
    g.add_argument("--monitor", action="store_true", help="creates a process to monitor this daemon (no-op)")
    g.add_argument("--user", metavar="username[:group]", help="changes the effective daemon user:group (ignored)")
    g.add_argument("--no-chdir", action="store_true", help="do not chdir to '/'")
    g.add_argument("--pidfile", metavar="[=FILE]", help="create pidfile (default: $OVS_RUNDIR/<program>.pid)")
    g.add_argument("--overwrite-pidfile", action="store_true", help="with --pidfile, start even if already running")
    g = parser.add_argument_group("Logging options")
    g.add_argument("--verbose", dest="verbose", action="append", metavar="[=SPEC]",
                   help="-vSPEC, --verbose=SPEC set logging levels; -v, --verbose: maximum verbosity")
    g.add_argument("--log-file", metavar="[=FILE]", help="enable logging to FILE (default: $OVS_LOGDIR/<program>.log)")
    g = parser.add_argument_group("Other options")
    g.add_argument("--unixctl", metavar="SOCKET", help="override default control socket name")
    g.add_argument("-V", "--version", action=_VersionAction, program=program,
                   help="display version information")

    original = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        longs = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
        return original(_rewrite(args, longs), namespace)

    parser.parse_known_args = parse_known_args


@dataclass
class DaemonConfig:
    program: str
    pidfile: str | None = None          # absolute path, or None for no pidfile
    overwrite_pidfile: bool = False
    detach: bool = False
    chdir: bool = True
    monitor: bool = False
    user: str | None = None
    log_file: str | None = None         # absolute path, or None
    unixctl: str | None = None          # absolute path, "none", or None for the default
    verbose: list[str | None] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: argparse.Namespace, program: str) -> "DaemonConfig":
        pidfile = getattr(args, "pidfile", None)
        if pidfile is not None:
            pidfile = abs_file_name(rundir(), pidfile) if pidfile else f"{rundir()}/{program}.pid"
        log_file = getattr(args, "log_file", None)
        if log_file is not None:
            log_file = os.path.abspath(log_file) if log_file else f"{logdir()}/{program}.log"
        unix = getattr(args, "unixctl", None)
        if unix is not None and unix != "none":
            unix = abs_file_name(rundir(), unix)
        return cls(program=program, pidfile=pidfile,
                   overwrite_pidfile=getattr(args, "overwrite_pidfile", False),
                   detach=getattr(args, "detach", False),
                   chdir=not getattr(args, "no_chdir", False),
                   monitor=getattr(args, "monitor", False),
                   user=getattr(args, "user", None), log_file=log_file, unixctl=unix,
                   verbose=[v or None for v in (getattr(args, "verbose", None) or [])])

    @property
    def unixctl_path(self) -> str | None:
        """The control socket path (needs the daemon's pid: read it after start_daemon())."""
        if self.unixctl == "none":
            return None
        return self.unixctl or f"{rundir()}/{self.program}.{os.getpid()}.ctl"


# ---------------------------------------------------------------------------
# Process lifecycle

class _State:
    config: DaemonConfig | None = None
    notify_fd = -1                  # write end of the --detach readiness pipe
    completed = False
    pidfile_fd = -1
    pidfile_id: tuple[int, int] | None = None
    owner = 0                       # pid that created the pidfile


_state = _State()


def fatal(message: str) -> NoReturn:
    """Log at EMER (not to the console), print `<program>: message`, exit 1 (VLOG_FATAL)."""
    log = get_logger("daemon_unix")
    lv = VLOG.levels["daemon_unix"]
    saved, lv[CONSOLE] = lv[CONSOLE], OFF
    log.critical("%s", message)
    lv[CONSOLE] = saved
    sys.stderr.write(f"{VLOG.program}: {message}\n")
    sys.stderr.flush()
    raise SystemExit(1)


def _locked_pid(path: str) -> int:
    """Pid of a live process holding `path`'s lock, or 0 if absent/stale."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return 0
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return 0                                   # nobody holds it: stale
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        text = os.read(fd, 64).decode(errors="replace").strip()
        return int(text) if text.isdigit() else -1
    finally:
        os.close(fd)                                   # releases only locks on this file


def make_pidfile(config: DaemonConfig) -> None:
    pidfile, pid = config.pidfile, os.getpid()
    tmp = f"{pidfile}.tmp{pid}" if config.overwrite_pidfile else f"{pidfile}.tmp"
    try:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        fatal(f"{tmp}: create failed ({e.strerror})")
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        fatal(f"{pidfile}: failed to lock pidfile ({e.strerror})")
    try:
        if not config.overwrite_pidfile:
            other = _locked_pid(pidfile)
            if other > 0:
                fatal(f"{pidfile}: already running as pid {other}, aborting")
        os.ftruncate(fd, 0)
        os.write(fd, f"{pid}\n".encode())
        os.rename(tmp, pidfile)
    except BaseException:
        _unlink_quietly(tmp)
        os.close(fd)
        raise
    st = os.fstat(fd)
    _state.pidfile_fd, _state.pidfile_id, _state.owner = fd, (st.st_dev, st.st_ino), pid


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def remove_pidfile() -> None:
    """Remove our pidfile, unless another process has since replaced it."""
    if _state.pidfile_fd < 0 or _state.owner != os.getpid():
        return
    try:
        st = os.stat(_state.config.pidfile)
        if (st.st_dev, st.st_ino) == _state.pidfile_id:
            os.unlink(_state.config.pidfile)
    except OSError:
        pass
    os.close(_state.pidfile_fd)
    _state.pidfile_fd = -1


def _fork_and_wait() -> None:
    """Fork; the parent waits for the child's readiness byte and exits accordingly."""
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(w)
        while True:
            try:
                ready = os.read(r, 1)
                break
            except InterruptedError:
                continue
        if ready:
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code > 0:
            os._exit(code)                     # the child already said why
        why = f"killed ({signal.strsignal(-code)})" if code < 0 else "exit status 0"
        sys.stderr.write(f"{VLOG.program}: fork child died before signaling startup ({why})\n")
        os._exit(1)
    os.close(r)
    os.set_inheritable(w, False)
    _state.notify_fd = w
    os.setsid()


def start_daemon(config: DaemonConfig) -> None:
    """Call before trio.run(): logging, then fork (--detach), setsid, pidfile.

    Exits (SystemExit(1), message on stderr) on a bad -v spec or a held pidfile."""
    _state.config = config
    VLOG.program = config.program
    for spec in config.verbose:
        if spec is None:
            VLOG.set_levels(None, None, DBG)
            continue
        try:
            VLOG.set_from_string(spec)
        except VlogError as e:
            sys.stderr.write(f'{config.program}: processing "{spec}": {e}\n')
            raise SystemExit(1)
    if config.log_file:
        VLOG.set_log_file(config.log_file)
    if config.detach:
        _fork_and_wait()
    if config.pidfile:
        make_pidfile(config)
        atexit.register(remove_pidfile)


def daemonize_complete() -> None:
    """Call once listeners are bound: releases a --detach parent, detaches stdio."""
    if _state.completed:
        return
    _state.completed = True
    if _state.notify_fd >= 0:
        os.write(_state.notify_fd, b"\0")
        os.close(_state.notify_fd)
        _state.notify_fd = -1
        if _state.config.chdir:
            os.chdir("/")
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        VLOG.set_levels(None, CONSOLE, OFF)


def exit_process(signum: int | None = None) -> NoReturn:
    """Clean up and exit: by `signum` if given (as Open vSwitch does), else status 0."""
    remove_pidfile()
    if signum is None:
        raise SystemExit(0)
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    raise SystemExit(128 + signum)        # only if the signal is blocked
