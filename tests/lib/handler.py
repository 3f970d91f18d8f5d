"""The handler under test, as a web server runs it: FastCGI processes
that accept on one Unix socket passed as their fd 0 (as lighttpd and
mod_fcgid start them), or one plain CGI process per request.

Every wait here is bounded; stop() ends with SIGKILL."""
import os
import signal
import socket
import subprocess
import threading
import time

from . import HANDLER
from .fcgi import fcgi_request, response_status


def listen(sock_path, backlog=64):
    """A listening Unix socket at sock_path (a stale one is removed)."""
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(sock_path)
    ls.listen(backlog)
    return ls


def start(argv, listener, env, stderr=None, **popen):
    """One FastCGI process: argv with the listening socket as its fd 0.
    Returns the Popen; stdout goes nowhere, stderr to stderr (a file) or
    nowhere.  popen: more subprocess.Popen arguments."""
    return subprocess.Popen(argv, stdin=listener.fileno(), stdout=subprocess.DEVNULL,
                            stderr=stderr or subprocess.DEVNULL, env=env, **popen)


def serve(argv, sock_path, env, procs=1, backlog=64, stderr=None, **popen):
    """procs FastCGI processes of argv sharing a new socket at sock_path;
    the socket is closed here (the processes hold it).  Returns the list
    of Popen."""
    ls = listen(sock_path, backlog)
    try:
        return [start(argv, ls, env, stderr, **popen) for _ in range(procs)]
    finally:
        ls.close()


def _signal(proc, sig, group):
    try:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except OSError:
        pass


def stop(proc, timeout=10, group=False):
    """SIGTERM (the handler finishes its request and exits), again every
    second, then SIGKILL after timeout seconds; group: to the process
    group (a wrapper's children too).  Returns the exit status.

    SIGTERM is repeated because one that lands between the handler's
    check of its stop flag and its blocking accept() is handled but does
    not end the accept() (libfcgi only checks on EINTR)."""
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        _signal(proc, signal.SIGTERM, group)
        try:
            proc.wait(min(1.0, max(0.1, deadline - time.time())))
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        _signal(proc, signal.SIGKILL, group)
        proc.wait()
    return proc.returncode


def cgi_env(env, params):
    """A CGI process's environment: env (str to str) and the request's
    params (bytes to bytes)."""
    full = {k.encode(): v.encode() for k, v in env.items()}
    full.update(params)
    return full


def run_cgi(argv, env, params, body=b'', timeout=60):
    """One CGI request: argv with env and params, body on stdin.  Returns
    the CompletedProcess (stdout, stderr captured)."""
    return subprocess.run(argv, env=cgi_env(env, params), input=body,
                          capture_output=True, timeout=timeout)


class Pool:
    """Handler processes on data (a datadir.DataDir).  mode 'fcgi': procs
    FastCGI processes on one Unix socket in data.tmp, respawned when they
    die unless respawn is False; mode 'cgi': one process per request
    (send(..., mode='cgi') does that in a FastCGI pool too).  prefix
    wraps the command (strace, env LD_PRELOAD=...), or is a function that
    returns the wrapper for each new process."""
    def __init__(self, data, mode='fcgi', procs=3, env=None, prefix=None,
                 preexec=None, handler=None, respawn=True, backlog=128):
        self.data, self.mode, self.nprocs = data, mode, procs
        self.handler = handler or HANDLER
        self.env = {'PATH': '/usr/bin:/bin', 'GPUSH_DIR': data.path}
        self.env.update(env or {})
        self.prefix, self.preexec = prefix or [], preexec
        self.procs, self.cgi_live, self.lock = [], set(), threading.Lock()
        self.all_procs = []
        self.stopped = False
        if mode == 'fcgi':
            self.sock = os.path.join(data.tmp, 'sock')
            self.ls = listen(self.sock, backlog)
            for _ in range(procs):
                self.procs.append(self._spawn())
            self.keeper = None
            if respawn:
                self.keeper = threading.Thread(target=self._keep, daemon=True)
                self.keeper.start()

    def _argv(self):
        prefix = self.prefix() if callable(self.prefix) else self.prefix
        return prefix + [self.handler]

    def _spawn(self):
        # A session of its own, so stop() reaches a wrapper's children too
        # (strace detaches from its tracee when it gets SIGTERM).
        p = start(self._argv(), self.ls, self.env, preexec_fn=self.preexec,
                  start_new_session=True)
        self.all_procs.append(p)
        return p

    def _keep(self):
        while not self.stopped:
            with self.lock:
                for i, p in enumerate(self.procs):
                    if self.stopped:
                        break
                    if p.poll() is not None and not self.stopped:
                        self.procs[i] = self._spawn()
            time.sleep(0.005)

    def send(self, params, body=b'', timeout=20, mode=None):
        """One request (params: bytes to bytes).  Returns the status, or
        None when no answer came (killed, timed out)."""
        try:
            if (mode or self.mode) == 'fcgi':
                return response_status(fcgi_request(self.sock, params, body, timeout))[0]
            p = subprocess.Popen(self._argv(), env=cgi_env(self.env, params),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, preexec_fn=self.preexec)
            with self.lock:
                self.cgi_live.add(p)
            try:
                out, _ = p.communicate(body, timeout=timeout)
            finally:
                with self.lock:
                    self.cgi_live.discard(p)
            return response_status(out)[0]
        except (OSError, socket.timeout, subprocess.TimeoutExpired):
            return None

    def pids(self):
        """The live processes (FastCGI and CGI), as Popen."""
        with self.lock:
            return [p for p in self.procs + list(self.cgi_live) if p.poll() is None]

    def stop(self):
        """SIGTERM to every process group, 10 s, then SIGKILL to what is left."""
        self.stopped = True
        if self.mode == 'fcgi' and self.keeper:
            self.keeper.join()
        with self.lock:
            procs = self.all_procs + list(self.cgi_live)
        for p in procs:
            _signal(p, signal.SIGTERM, True)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            _signal(p, signal.SIGKILL, True)      # whatever is left of its group
            if p.poll() is None:
                p.wait()
        if self.mode == 'fcgi':
            self.ls.close()
