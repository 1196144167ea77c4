"""Servers and clients for the published-port tests. Each ends by itself.

    ports.py tcp-echo PORT SECONDS     echo each line, many clients at once
    ports.py udp-echo PORT SECONDS     answer each datagram in upper case
    ports.py tcp-clients HOST PORT N   N connections at once; prints how many echoed
    ports.py udp-ask HOST PORT TEXT    one datagram; prints the answer
    ports.py connect HOST PORT         prints "open" or "closed"
"""
import socket
import sys
import threading
import time


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def tcp_echo(port, seconds):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(256)
    server.settimeout(0.2)
    end = time.monotonic() + seconds

    def serve(conn):
        conn.settimeout(10)
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass

    while time.monotonic() < end:
        try:
            conn, _ = server.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def udp_echo(port, seconds):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.settimeout(0.2)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data, peer = sock.recvfrom(65536)
        except socket.timeout:
            continue
        sock.sendto(data.upper(), peer)


def tcp_clients(host, port, n):
    socks = []
    for i in range(n):
        s = socket.socket(family(host), socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect((host, port))
        socks.append(s)
    for i, s in enumerate(socks):
        s.sendall(f"client {i}\n".encode())
    ok = 0
    for i, s in enumerate(socks):
        want = f"client {i}\n".encode()
        got = b""
        try:
            while len(got) < len(want):
                chunk = s.recv(100)
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
        ok += got == want
        s.close()
    print(ok)


def udp_ask(host, port, text):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(text.encode(), (host, port))
    print(s.recv(65536).decode())


def connect(host, port):
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((host, port))
        print("open")
    except OSError:
        print("closed")


cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "tcp-echo":
    tcp_echo(int(args[0]), float(args[1]))
elif cmd == "udp-echo":
    udp_echo(int(args[0]), float(args[1]))
elif cmd == "tcp-clients":
    tcp_clients(args[0], int(args[1]), int(args[2]))
elif cmd == "udp-ask":
    udp_ask(args[0], int(args[1]), args[2])
elif cmd == "connect":
    connect(args[0], int(args[1]))
