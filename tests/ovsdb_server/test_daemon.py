"""Daemon conventions: directories, options, pidfile, --detach, vlog, signals.

`TinyDaemon` runs a small program built from daemon.py and unixctl.py, as a
daemon's main() would, in a private OVS_RUNDIR; stock `ovs-appctl` talks to it.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ovsdb_server import daemon

ROOT = Path(__file__).resolve().parents[2]

TINY = r'''
import argparse, sys, trio
from ovsdb_server import daemon, unixctl

PROGRAM = sys.argv[1]
log = daemon.get_logger("tinyd")
LEVELS = {"dbg": log.debug, "info": log.info, "warn": log.warning, "err": log.error}

def main(argv):
    parser = argparse.ArgumentParser(prog=PROGRAM)
    daemon.add_options(parser, program=PROGRAM)
    parser.add_argument("--fail-after-fork", action="store_true")
    parser.add_argument("--mimic", action="store_true")
    parser.add_argument("extra", nargs="*")
    args = parser.parse_args(argv)
    config = daemon.DaemonConfig.from_args(args, PROGRAM)
    daemon.start_daemon(config)
    if args.fail_after_fork:
        daemon.fatal("cannot bind: simulated")
    signum = trio.run(run, config, args)
    daemon.exit_process(signum)

def unsupported(args):
    raise unixctl.UnixctlError("unsupported")

async def sleep(args):
    await trio.sleep(float(args[0]))
    return "slept"

def do_log(args):
    LEVELS[args[0]]("%s", args[1])

async def run(config, args):
    server = unixctl.UnixctlServer(PROGRAM)
    daemon.register_vlog_commands(server)
    async with trio.open_nursery() as nursery:
        stop = unixctl.ExitController(nursery.cancel_scope)
        server.register("exit", "", 0, 0, stop.exit)
        server.register("tiny/echo", "ARG...", 1, 3, lambda a: " ".join(a))
        server.register("tiny/log", "LEVEL TEXT", 2, 2, do_log)
        server.register("tiny/sleep", "SECS", 1, 1, sleep)
        if args.mimic:      # same arity as ovsdb-server's, for differential tests
            server.register("ovsdb-server/add-db", "DB", 1, 1, unsupported)
            server.register("ovsdb-server/tlog-set", "DB:TABLE on|off", 2, 2, unsupported)
        await nursery.start(stop.watch_signals)
        if config.unixctl_path:
            await nursery.start(server.serve, config.unixctl_path)
        daemon.daemonize_complete()
        print("ready " + str(args.extra), flush=True)
    return stop.signum

main(sys.argv[2:])
'''


def appctl(rundir, *args, timeout=10):
    env = dict(os.environ, OVS_RUNDIR=str(rundir))
    return subprocess.run(["ovs-appctl", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours still "exists": reap it if so.
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


class TinyDaemon:
    """Starts tiny daemons in a private run directory; kills them all at teardown."""

    def __init__(self, rundir: Path, program: str = "tinyd"):
        self.rundir = rundir
        self.program = program
        self.env = dict(os.environ, OVS_RUNDIR=str(rundir), OVS_LOGDIR=str(rundir),
                        OVS_DBDIR=str(rundir), PYTHONPATH=str(ROOT))
        self.pids: list[int] = []
        self.procs: list[subprocess.Popen] = []

    def popen(self, *args) -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-c", TINY, self.program, *args], env=self.env,
                             cwd=self.rundir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        self.procs.append(p)
        self.pids.append(p.pid)
        return p

    def start(self, *args) -> subprocess.Popen:
        """Start in the foreground and wait until its listeners are bound."""
        p = self.popen(*args)
        line = p.stdout.readline()
        assert line.startswith("ready"), (line, p.stderr.read() if p.poll() is not None else "")
        return p

    def run(self, *args, timeout=10) -> subprocess.CompletedProcess:
        p = self.popen(*args)
        out, err = p.communicate(timeout=timeout)
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)

    @property
    def pidfile(self) -> Path:
        return self.rundir / f"{self.program}.pid"

    def track(self, pid: int) -> None:
        self.pids.append(pid)

    def close(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()


@pytest.fixture
def rundir():
    d = Path(tempfile.mkdtemp(prefix="pyvs-", dir="/tmp"))      # short: sun_path is 108 bytes
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def tiny(rundir):
    t = TinyDaemon(rundir)
    yield t
    t.close()


needs_appctl = pytest.mark.skipif(shutil.which("ovs-appctl") is None, reason="needs ovs-appctl")


# ---------------------------------------------------------------------------
# Directories and options (pure)

def test_dirs_defaults_and_env(monkeypatch):
    for var in ("OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"):
        monkeypatch.delenv(var, raising=False)
    assert (daemon.rundir(), daemon.logdir(), daemon.dbdir()) == (
        "/var/run/openvswitch", "/var/log/openvswitch", "/etc/openvswitch")
    monkeypatch.setenv("OVS_SYSCONFDIR", "/opt/etc")
    assert daemon.dbdir() == "/opt/etc/openvswitch"
    monkeypatch.setenv("OVS_RUNDIR", "/r")
    monkeypatch.setenv("OVS_LOGDIR", "/l")
    monkeypatch.setenv("OVS_DBDIR", "/d")
    assert (daemon.rundir(), daemon.logdir(), daemon.dbdir()) == ("/r", "/l", "/d")
    monkeypatch.setenv("OVS_RUNDIR", "")            # empty means unset, as in lib/dirs.c
    assert daemon.rundir() == "/var/run/openvswitch"


def _parse(argv, monkeypatch, tmp_path):
    monkeypatch.setenv("OVS_RUNDIR", "/run/x")
    monkeypatch.setenv("OVS_LOGDIR", "/log/x")
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser(prog="ovsdb-server")
    daemon.add_options(parser)
    parser.add_argument("database", nargs="*")
    args = parser.parse_args(argv)
    return args, daemon.DaemonConfig.from_args(args, "ovsdb-server")


def test_optional_argument_forms(monkeypatch, tmp_path):
    args, c = _parse(["--pidfile", "--log-file", "conf.db", "--detach", "--no-chdir",
                      "--monitor", "--overwrite-pidfile", "--user=ovs:ovs"], monkeypatch, tmp_path)
    assert args.database == ["conf.db"]             # not eaten by --pidfile / --log-file
    assert c.pidfile == "/run/x/ovsdb-server.pid"
    assert c.log_file == "/log/x/ovsdb-server.log"
    assert (c.detach, c.chdir, c.monitor, c.overwrite_pidfile, c.user) == (True, False, True, True, "ovs:ovs")
    assert c.unixctl_path == f"/run/x/ovsdb-server.{os.getpid()}.ctl"

    args, c = _parse(["--pidfile=my.pid", "--log-file=my.log", "--unixctl=my.ctl", "a.db", "b.db"],
                     monkeypatch, tmp_path)
    assert args.database == ["a.db", "b.db"]
    assert c.pidfile == "/run/x/my.pid"             # relative to the rundir, as OVS
    assert c.log_file == str(tmp_path / "my.log")   # relative to the cwd
    assert c.unixctl_path == "/run/x/my.ctl"

    _, c = _parse(["--pidfile=/abs/p.pid", "--unixctl=/abs/c.ctl"], monkeypatch, tmp_path)
    assert (c.pidfile, c.unixctl_path) == ("/abs/p.pid", "/abs/c.ctl")
    _, c = _parse(["--unixctl=none"], monkeypatch, tmp_path)
    assert c.unixctl_path is None and c.pidfile is None and c.log_file is None


def test_verbose_forms(monkeypatch, tmp_path):
    args, c = _parse(["-vconsole:off", "-vsyslog:off", "conf.db", "-vfile:dbg",
                      "-vjsonrpc:file:dbg", "-v", "--verbose", "--verbose=info", "--pid"],
                     monkeypatch, tmp_path)
    assert c.verbose == ["console:off", "syslog:off", "file:dbg", "jsonrpc:file:dbg", None, None, "info"]
    assert args.database == ["conf.db"]
    assert c.pidfile == "/run/x/ovsdb-server.pid"  # unique prefix, as getopt_long


def test_vlog_specs_apply_per_destination():
    v = daemon.Vlog("prog")
    v.module("tinyx")
    v.set_from_string("console:off")
    v.set_from_string("syslog:off")
    v.set_from_string("tinyx:file:dbg")
    assert v.levels["tinyx"] == [daemon.OFF, daemon.OFF, daemon.DBG]
    assert v.levels["jsonrpc"] == [daemon.OFF, daemon.OFF, daemon.INFO]
    v.set_from_string("ANY:ANY:warn")
    assert v.levels["tinyx"] == [daemon.WARN] * 3
    v.set_from_string("")                           # no words: everything to dbg
    assert v.levels["vlog"] == [daemon.DBG] * 3
    errors = {"nosuch": 'no destination, level, or module "nosuch"',
              "file:dbg:console": "cannot specify multiple destinations",
              "dbg:info": "cannot specify multiple levels",
              "vlog:jsonrpc": "cannot specify multiple modules",
              "PATTERN": "missing destination",
              "PATTERN:nosuch:x": 'unknown destination "nosuch"',
              "FACILITY:xx": "invalid facility"}
    for spec, text in errors.items():
        with pytest.raises(daemon.VlogError) as e:
            v.set_from_string(spec)
        assert str(e.value) == text
    v.set_from_string("PATTERN:console:%c %m")
    assert v.patterns[daemon.CONSOLE] == "%c %m"
    assert "vlog               DBG        DBG        DBG\n" in v.list_levels()


def test_daemon_module_does_not_import_trio():
    code = "import sys, ovsdb_server.daemon; assert 'trio' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))


# ---------------------------------------------------------------------------
# Processes

def test_version_option(tiny):
    r = tiny.run("-V")
    assert (r.returncode, r.stdout, r.stderr) == (0, "tinyd (pyvswitch) 0.1.0\n", "")
    if shutil.which("ovsdb-server"):
        real = subprocess.run(["ovsdb-server", "-V"], capture_output=True, text=True).stdout
        shape = re.compile(r"^[\w-]+ \([\w ]+\) [\d.]+\n$")
        assert shape.match(real) and shape.match(r.stdout)


def test_bad_verbose_spec_is_fatal(tiny):
    r = tiny.run("-vnosuch")
    assert (r.returncode, r.stderr) == (1, 'tinyd: processing "nosuch": no destination, level, or module "nosuch"\n')


FILE_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\|(\d{5})\|([\w]+)\|([A-Z]+)\|(.*)$")
CONSOLE_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\|(\d{5})\|([\w]+)\|([A-Z]+)\|(.*)$")


@needs_appctl
def test_log_file_format_and_vlog_set(tiny, rundir):
    p = tiny.start("--log-file", "--pidfile")
    log = rundir / "tinyd.log"
    assert appctl(rundir, "-t", "tinyd", "tiny/log", "info", "hello there").returncode == 0
    assert appctl(rundir, "-t", "tinyd", "tiny/log", "dbg", "hidden").returncode == 0
    r = appctl(rundir, "-t", "tinyd", "vlog/set", "tinyd:file:dbg")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert appctl(rundir, "-t", "tinyd", "tiny/log", "dbg", "now shown").returncode == 0
    r = appctl(rundir, "-t", "tinyd", "vlog/list")
    assert "tinyd             INFO       INFO        DBG\n" in r.stdout
    assert r.stdout.startswith("                 console    syslog    file\n"
                               "                 -------    ------    ------\n")
    lines = log.read_text().splitlines()
    parsed = [FILE_LINE.match(line).groups() for line in lines]
    assert parsed == [("00001", "vlog", "INFO", f"opened log file {log}"),
                      ("00002", "tinyd", "INFO", "hello there"),
                      ("00003", "tinyd", "DBG", "now shown")]
    # vlog/reopen after rotation starts a new file.
    log.rename(rundir / "tinyd.log.1")
    assert appctl(rundir, "-t", "tinyd", "vlog/reopen").returncode == 0
    assert FILE_LINE.match(log.read_text()).group(4) == f"opened log file {log}"
    # Console: stderr, second-resolution timestamps, same numbering.
    appctl(rundir, "-t", "tinyd", "vlog/set", "console:off")
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=5)[1].splitlines()
    assert [CONSOLE_LINE.match(x).groups()[1:] for x in err[:2]] == [
        ("vlog", "INFO", f"opened log file {log}"), ("tinyd", "INFO", "hello there")]


@needs_appctl
def test_detach_returns_when_ready(tiny, rundir):
    r = tiny.run("--detach", "--pidfile", "--log-file")
    assert r.returncode == 0, r.stderr
    pid = int(tiny.pidfile.read_text())
    tiny.track(pid)
    assert tiny.pidfile.read_text() == f"{pid}\n"
    assert pid != tiny.procs[-1].pid and alive(pid)
    assert (rundir / f"tinyd.{pid}.ctl").is_socket()      # bound before the parent returned
    assert r.stdout == "" and "opened log file" in r.stderr    # console until detached
    assert appctl(rundir, "-t", "tinyd", "version").stdout == "tinyd (pyvswitch) 0.1.0\n"
    assert os.readlink(f"/proc/{pid}/cwd") == "/"              # chdir("/") without --no-chdir
    assert os.getsid(pid) == pid                               # setsid()
    r = appctl(rundir, "-t", "tinyd", "exit")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert wait_for(lambda: not alive(pid))
    assert not tiny.pidfile.exists() and not (rundir / f"tinyd.{pid}.ctl").exists()


def test_detach_reports_child_failure(tiny, rundir):
    r = tiny.run("--detach", "--pidfile", "--fail-after-fork")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "tinyd: cannot bind: simulated\n")
    assert not tiny.pidfile.exists()


@needs_appctl
def test_second_instance_refuses(tiny, rundir):
    first = tiny.start("--pidfile")
    r = tiny.run("--pidfile")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == f"tinyd: {tiny.pidfile}: already running as pid {first.pid}, aborting\n"
    assert tiny.pidfile.read_text() == f"{first.pid}\n"
    assert not Path(f"{tiny.pidfile}.tmp").exists()
    assert appctl(rundir, "-t", "tinyd", "version").returncode == 0    # still found, still locked
    # --overwrite-pidfile takes over: ovs-appctl now reaches the newcomer.
    second = tiny.start("--pidfile", "--overwrite-pidfile")
    assert tiny.pidfile.read_text() == f"{second.pid}\n"
    r = appctl(rundir, "-t", "tinyd", "exit")
    assert r.returncode == 0 and second.wait(timeout=5) == 0
    assert first.poll() is None


@needs_appctl
def test_stale_pidfile_is_replaced(tiny, rundir):
    tiny.pidfile.write_text("999999\n")              # unlocked: its owner is gone
    p = tiny.start("--pidfile")
    assert tiny.pidfile.read_text() == f"{p.pid}\n"
    assert appctl(rundir, "-t", "tinyd", "version").returncode == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_exit_cleans_up(tiny, rundir, signum):
    p = tiny.start("--pidfile")
    ctl = rundir / f"tinyd.{p.pid}.ctl"
    assert ctl.is_socket() and tiny.pidfile.exists()
    p.send_signal(signum)
    assert p.wait(timeout=5) == -signum              # dies by the signal, as Open vSwitch does
    assert not ctl.exists() and not tiny.pidfile.exists()
