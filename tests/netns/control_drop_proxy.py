#!/usr/bin/env python3
"""A control-socket stand-in for "keymeshd died after doing the request, before replying".

  control_drop_proxy.py LISTEN DAEMON

Listens on the Unix socket LISTEN (prints LISTENING). The first connection's first request
frame (4-byte big-endian length, then the bytes) is passed to the real daemon at DAEMON, and
the daemon's reply is read and thrown away; then the client's connection is closed without a
reply, LISTEN is removed and the proxy exits, as a killed keymeshd would leave it. Prints
"dropped N reply bytes".
"""
import os
import socket
import struct
import sys


def read_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += chunk
    return b


def read_frame(s):
    header = read_exact(s, 4)
    return header + read_exact(s, struct.unpack(">I", header)[0])


def main(listen, daemon):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(listen)
    server.listen(4)
    print("LISTENING", flush=True)
    client, _ = server.accept()
    request = read_frame(client)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
        upstream.settimeout(10)
        upstream.connect(daemon)
        upstream.sendall(request)
        reply = read_frame(upstream)
    os.unlink(listen)
    server.close()
    client.close()
    print("dropped %d reply bytes" % len(reply), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
