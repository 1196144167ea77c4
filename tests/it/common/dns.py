"""A tiny DNS responder for tests: answers NAME with ADDR (an A record),
anything else with NXDOMAIN, and appends every query name to LOG.

usage: dns.py LISTEN_ADDR NAME ADDR LOG    (UDP port 53; exits after 60 s)
"""
import socket, struct, sys, time

listen, name, addr, log = sys.argv[1:5]
family = socket.AF_INET6 if ":" in listen else socket.AF_INET
sock = socket.socket(family, socket.SOCK_DGRAM)
sock.bind((listen, 53))
sock.settimeout(0.5)
open(log, "a").close()
end = time.time() + 60
while time.time() < end:
    try:
        query, peer = sock.recvfrom(512)
    except socket.timeout:
        continue
    if len(query) < 17:
        continue
    labels, i = [], 12
    while i < len(query) and query[i]:
        labels.append(query[i + 1:i + 1 + query[i]].decode(errors="replace"))
        i += query[i] + 1
    qname = ".".join(labels)
    qtype = struct.unpack("!H", query[i + 1:i + 3])[0] if i + 3 <= len(query) else 0
    with open(log, "a") as f:
        f.write(qname + "\n")
    question = query[12:i + 5]
    found = qname.lower() == name.lower()
    answers = b""
    if found and qtype == 1:
        answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(addr)
    flags = 0x8180 if found else 0x8183
    header = query[:2] + struct.pack("!HHHHH", flags, 1, 1 if answers else 0, 0, 0)
    sock.sendto(header + question + answers, peer)
