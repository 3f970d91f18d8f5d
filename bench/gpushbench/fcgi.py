"""A tiny FastCGI client and spawner for the bench's per-request
measurements (callgrind, strace, massif): the handler listens on a Unix
socket passed as fd 0, as lighttpd and mod_fcgid start it; one request
per connection, the way lighttpd talks to it."""
import os
import socket
import subprocess
import time

# The tests' FastCGI client, so the benchmark speaks the protocol the tests
# prove (the path is set in __init__.py).  The one import of it in bench/.
from run import fcgi_request  # noqa: E402


def request(sock_path, params, body=b'', timeout=120):
    """Sends one request; returns (status, raw CGI response)."""
    env = {k.encode(): v.encode() for k, v in params.items()}
    out = fcgi_request(sock_path, env, body, timeout)
    return _status(out), out


def _status(out):
    if out.startswith(b'Status: '):
        try:
            return int(out[8:11])
        except ValueError:
            return 0
    return 200 if out else 0


def spawn(argv, env, sock_path, stderr=None):
    """Starts argv as a FastCGI application listening on sock_path (its
    fd 0).  Returns the Popen."""
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(sock_path)
    ls.listen(64)
    try:
        return subprocess.Popen(argv, stdin=ls.fileno(), stdout=subprocess.DEVNULL,
                                stderr=stderr or subprocess.DEVNULL, env=env,
                                start_new_session=True)
    finally:
        ls.close()


def stop(proc, timeout=60):
    """SIGTERM (the handler finishes its request and exits), then SIGKILL.

    SIGTERM is sent again every second: a SIGTERM that lands between the
    handler's check of its stop flag and its blocking accept() is handled
    but does not end the accept() (libfcgi only checks on EINTR), and
    under valgrind that window is as long as a callgrind dump.  A second
    signal interrupts the accept() itself."""
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        try:
            proc.terminate()
            proc.wait(min(1.0, max(0.1, deadline - time.time())))
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def wait_ready(sock_path, params, body=b'', timeout=60):
    """Sends requests until one is answered (valgrind starts slowly)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            return request(sock_path, params, body, timeout=max(1, deadline - time.time()))
        except OSError as e:
            last = e
            time.sleep(0.2)
    raise OSError('no answer on %s: %s' % (sock_path, last))
