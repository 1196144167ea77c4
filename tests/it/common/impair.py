"""A UDP relay that impairs what it carries, as netem would (this kernel has none).

usage: impair.py LISTEN_PORT SERVER_HOST SERVER_PORT SECONDS COUNTS_FILE
Listens on 127.0.0.1:LISTEN_PORT; what the client sends goes to the server,
what the server sends goes to the client's last address. Each datagram, both
ways: lost with 5%, duplicated with 5%, one byte flipped with 1%, and with
25% held back and sent after the next one (reordering). Ends by itself after
SECONDS (at most 600). What it did is written to COUNTS_FILE every second.
"""
import os, random, select, socket, sys, time

port, server = int(sys.argv[1]), (sys.argv[2], int(sys.argv[3]))
end = time.monotonic() + min(float(sys.argv[4]), 600.0)
counts_file, written = sys.argv[5], 0.0
front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
front.bind(("127.0.0.1", port))
back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client = None
held = {front: None, back: None}  # a datagram held back, per outgoing socket
counts = dict(carried=0, lost=0, duplicated=0, corrupted=0, reordered=0)
rand = random.Random(1300)

def forward(sock, data, dest):
    if rand.random() < 0.05:
        counts["lost"] += 1
        return
    if rand.random() < 0.01:
        data = bytearray(data)
        data[rand.randrange(len(data))] ^= 0xFF
        data = bytes(data)
        counts["corrupted"] += 1
    copies = 2 if rand.random() < 0.05 else 1
    counts["duplicated"] += copies - 1
    if held[sock] is None and rand.random() < 0.25:
        held[sock] = (data, dest)
        counts["reordered"] += 1
        return
    for _ in range(copies):
        sock.sendto(data, dest)
    counts["carried"] += 1
    if held[sock] is not None:
        sock.sendto(*held[sock])
        held[sock] = None

def write_counts():
    with open(counts_file + ".new", "w") as f:
        f.write(" ".join(f"{k}={v}" for k, v in counts.items()))
    os.replace(counts_file + ".new", counts_file)

while time.monotonic() < end:
    if time.monotonic() - written >= 1:
        write_counts()
        written = time.monotonic()
    ready, _, _ = select.select([front, back], [], [], 0.05)
    if not ready:  # quiet: let what is held go
        for sock in (front, back):
            if held[sock] is not None:
                sock.sendto(*held[sock])
                held[sock] = None
        continue
    for sock in ready:
        data, src = sock.recvfrom(65536)
        if sock is front:
            client = src
            forward(back, data, server)
        elif client is not None:
            forward(front, data, client)
write_counts()
