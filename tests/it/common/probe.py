"""Tries to reach each target once, all at the same time, 3 s at most each.

usage: probe.py PROTO:HOST:PORT ...   (PROTO tcp, udp or icmp; HOST may be IPv6)
Prints "reached TARGET" or "blocked TARGET" per target, in the given order.
A udp target counts as reached when it answers (the test runs an echo server).
"""
import socket, subprocess, sys, threading

def probe(target):
    proto, rest = target.split(":", 1)
    host, port = rest.rsplit(":", 1)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        if proto == "tcp":
            socket.create_connection((host, int(port)), timeout=3).close()
        elif proto == "udp":
            s = socket.socket(family, socket.SOCK_DGRAM)
            s.settimeout(3)
            s.sendto(b"probe", (host, int(port)))
            s.recvfrom(100)
        else:
            subprocess.run(["ping", "-c1", "-W3", host], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5)
        return "reached"
    except Exception:
        return "blocked"

results = {}
threads = [threading.Thread(target=lambda t=t: results.__setitem__(t, probe(t))) for t in sys.argv[1:]]
for t in threads:
    t.start()
for t in threads:
    t.join()
for target in sys.argv[1:]:
    print(results[target], target)
