"""A minimal FastCGI client: just enough of the FastCGI 1.0 spec to talk
to the handler the way lighttpd and mod_fcgid do (one responder request
per connection over a Unix socket), and the reading of a CGI response."""
import re
import socket
import struct

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6
RESPONDER = 1


def fcgi_record(rtype, content, req_id=1):
    """One record, or several when content is over 65535 bytes, padded to 8."""
    out = b''
    while True:
        chunk, content = content[:65535], content[65535:]
        pad = (8 - len(chunk) % 8) % 8
        out += struct.pack('>BBHHBx', 1, rtype, req_id, len(chunk), pad) + chunk + b'\0' * pad
        if not content:
            return out


def fcgi_len(n):
    """A name-value pair's length: one byte below 128, else four."""
    return struct.pack('>B', n) if n < 128 else struct.pack('>I', n | 0x80000000)


def fcgi_request(sock_path, env, body, timeout=20):
    """Sends one request; returns the raw CGI response (headers + body).
    env maps bytes to bytes; an object with pairs() may repeat a name.
    Raises OSError (socket.timeout) when the handler does not answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    items = env.pairs() if hasattr(env, 'pairs') else env.items()
    params = b''.join(fcgi_len(len(k)) + fcgi_len(len(v)) + k + v for k, v in items)
    msg = fcgi_record(BEGIN_REQUEST, struct.pack('>HB5x', RESPONDER, 0))
    msg += fcgi_record(PARAMS, params) + fcgi_record(PARAMS, b'')
    if body:
        msg += fcgi_record(STDIN, body)
    msg += fcgi_record(STDIN, b'')                           # end of the body
    s.sendall(msg)
    out, data = b'', b''
    while True:
        while len(data) < 8:
            chunk = s.recv(65536)
            if not chunk:
                s.close()
                return out
            data += chunk
        _, rtype, _, clen, plen = struct.unpack('>BBHHBx', data[:8])
        while len(data) < 8 + clen + plen:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        content, data = data[8:8 + clen], data[8 + clen + plen:]
        if rtype == STDOUT:
            out += content
        elif rtype == END_REQUEST:
            s.close()
            return out


def response_status(raw):
    """(the Status: header's number or None, the header block as text)."""
    head = raw.split(b'\r\n\r\n', 1)[0].decode('utf-8', 'replace')
    m = re.search(r'^Status: (\d{3})', head, re.M)
    return (int(m.group(1)) if m else None), head
