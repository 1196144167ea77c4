"""Listens on AF_UNIX stream sockets and logs each connection, for a while.

    listen.py LOG SECONDS PATH...

Makes each PATH's directory, binds PATH (mode 0777), writes LOG.ready once
all listen, and appends PATH to LOG for every connection. Ends by itself
after SECONDS.
"""
import os
import select
import socket
import sys
import time

log, seconds, paths = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
sockets = {}
for path in paths:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o777)
    sock.listen(16)
    sockets[sock] = path
open(log + ".ready", "w").close()
end = time.monotonic() + seconds
while time.monotonic() < end:
    readable, _, _ = select.select(list(sockets), [], [], 0.2)
    for sock in readable:
        conn, _ = sock.accept()
        conn.close()
        with open(log, "a") as f:
            f.write(sockets[sock] + "\n")
