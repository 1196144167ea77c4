"""Test HTTP server for the server netns: GET /token, GET /blob, PUT (sha256).

usage: httpd.py TOKEN BLOB_BYTES   (listens on [::]:8000, dual-stack)
Serves for at most 120 s, then exits by itself.
"""
import hashlib, http.server, socket, sys, threading

TOKEN = sys.argv[1].encode()
SIZE = int(sys.argv[2])
BLOCK = bytes((i * 7 + i // 251) & 0xFF for i in range(65521))  # a prime length: no page-aligned repeats
BLOB = (BLOCK * (SIZE // len(BLOCK) + 1))[:SIZE]

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/token":
            self.reply(TOKEN + b"\n")
        elif self.path == "/blob":
            self.reply(BLOB)
        elif self.path == "/blob.sha256":
            self.reply(hashlib.sha256(BLOB).hexdigest().encode() + b"\n")
        else:
            self.send_error(404)

    def do_PUT(self):
        left, digest = int(self.headers["Content-Length"]), hashlib.sha256()
        while left:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
        self.reply(digest.hexdigest().encode() + b"\n")

    def log_message(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

server = Server(("::", 8000), Handler)
threading.Timer(120, server.shutdown).start()
server.serve_forever()
