"""Cleanup on any exit, stopping processes, ports."""
import os
import signal
import socket
import subprocess
import time

from . import parsers
from .output import note
from .parsers import proc_environ

CLEANUPS = []


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted('signal %d' % signum)


def cleanup_all():
    while CLEANUPS:
        fn = CLEANUPS.pop()
        try:
            fn()
        except Exception as e:  # keep cleaning up
            note('cleanup: %s' % e)


def ours(run_id):
    """Pids of every process started for this run (they carry BENCH_RUN)."""
    tag = ('BENCH_RUN=' + run_id).encode()
    me = os.getpid()
    return [p for p in parsers.all_pids() if p != me and tag in proc_environ(p)]


def kill_ours(run_id, grace=5.0):
    """TERM, then KILL, every leftover process of this run, by pid."""
    pids = ours(run_id)
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.time() + grace
    while pids and time.time() < deadline:
        time.sleep(0.1)
        pids = [p for p in pids if os.path.exists('/proc/%d' % p) and
                proc_state(p) != 'Z']
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def proc_state(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            s = f.read()
        return s[s.rindex(')') + 2]
    except (OSError, ValueError, IndexError):
        return 'Z'


def stop_proc(p, grace=10.0, sig=signal.SIGTERM):
    if p is None or p.poll() is not None:
        return
    try:
        p.send_signal(sig)
        p.wait(grace)
    except subprocess.TimeoutExpired:
        p.kill()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass
    except OSError:
        pass


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False
