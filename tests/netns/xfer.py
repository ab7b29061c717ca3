#!/usr/bin/env python3
"""xfer.py - one-shot TCP file transfer with an end-to-end sha256 check, for netns tests.

  xfer.py serve --bind IP --port P --out FILE [--timeout S]
      Listens (prints LISTENING when ready), accepts one connection, writes everything it
      receives to FILE until EOF, then sends back the hex sha256 of what it got and exits.
  xfer.py send --host IP --port P --file FILE [--rate BYTES_PER_S] [--timeout S]
      Connects (retrying until --timeout), sends FILE (rate-limited if --rate > 0), half-closes,
      reads the server's sha256 and exits 0 only if it matches the file's.

--timeout bounds the whole run and every stall (no progress for that long -> exit 2).
Standard library only.
"""
import argparse
import hashlib
import socket
import sys
import time

CHUNK = 64 * 1024


def serve(a):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((a.bind, a.port))
    srv.listen(1)
    srv.settimeout(a.timeout)
    print("LISTENING", a.bind, a.port, flush=True)
    conn, peer = srv.accept()
    conn.settimeout(a.timeout)
    h = hashlib.sha256()
    n = 0
    t0 = time.monotonic()
    with open(a.out, "wb") as f:
        while True:
            b = conn.recv(CHUNK)
            if not b:
                break
            f.write(b)
            h.update(b)
            n += len(b)
    dt = time.monotonic() - t0
    digest = h.hexdigest()
    conn.sendall(digest.encode() + b"\n")
    conn.shutdown(socket.SHUT_WR)
    conn.close()
    print(f"RECEIVED {n} bytes from {peer[0]} in {dt:.2f}s sha256 {digest}", flush=True)


def send(a):
    deadline = time.monotonic() + a.timeout
    while True:
        try:
            src = (a.source, 0) if a.source else None
            s = socket.create_connection((a.host, a.port), timeout=5, source_address=src)
            break
        except OSError as e:
            if time.monotonic() > deadline:
                print(f"connect failed: {e}", file=sys.stderr)
                return 2
            time.sleep(0.2)
    s.settimeout(a.timeout)
    h = hashlib.sha256()
    n = 0
    t0 = time.monotonic()
    with open(a.file, "rb") as f:
        while True:
            b = f.read(CHUNK if a.rate <= 0 else min(CHUNK, max(1024, a.rate // 20)))
            if not b:
                break
            s.sendall(b)
            h.update(b)
            n += len(b)
            if a.rate > 0:
                ahead = n / a.rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        b = s.recv(256)
        if not b:
            break
        reply += b
    s.close()
    dt = time.monotonic() - t0
    want = h.hexdigest()
    got = reply.decode(errors="replace").strip()
    rate = n * 8 / dt / 1e6 if dt > 0 else 0
    if got != want:
        print(f"MISMATCH sent {n} bytes sha256 {want}, server got {got!r}", file=sys.stderr)
        return 1
    print(f"sent {n} bytes in {dt:.2f}s ({rate:.1f} Mbit/s), sha256 matches")
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sv = sub.add_parser("serve")
    sv.add_argument("--bind", default="0.0.0.0")
    sv.add_argument("--port", type=int, required=True)
    sv.add_argument("--out", required=True)
    sv.add_argument("--timeout", type=float, default=60)
    sd = sub.add_parser("send")
    sd.add_argument("--host", required=True)
    sd.add_argument("--port", type=int, required=True)
    sd.add_argument("--file", required=True)
    sd.add_argument("--rate", type=int, default=0)
    sd.add_argument("--timeout", type=float, default=60)
    sd.add_argument("--source", default="", help="bind to this local address first")
    a = p.parse_args()
    try:
        if a.cmd == "serve":
            serve(a)
            return 0
        return send(a)
    except (socket.timeout, TimeoutError) as e:
        print(f"{a.cmd}: timed out ({e})", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{a.cmd}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
