#!/bin/sh
# wg-wrap's loopback demo: no root, no VPN server needed.
#
# Makes two throwaway WireGuard profiles, runs a tiny HTTP server inside one
# wg-wrap namespace (its WireGuard UDP socket on 127.0.0.1), and fetches a
# page from it through the tunnel from a second wg-wrap namespace.
#
#   WG_WRAP=path/to/wg-wrap examples/loopback-demo.sh
#
# Needs python3 (the HTTP server) and curl. Everything it makes is removed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
WG_WRAP=${WG_WRAP:-}
if [ -z "$WG_WRAP" ]; then
    for candidate in "$here/../target/release/wg-wrap" "$here/../target/debug/wg-wrap" "$(command -v wg-wrap || true)"; do
        if [ -x "$candidate" ]; then WG_WRAP=$candidate; break; fi
    done
fi
[ -n "$WG_WRAP" ] || { echo "loopback-demo: build wg-wrap first (cargo build --release)" >&2; exit 1; }

umask 077
dir=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

server_key=$("$WG_WRAP" profile genkey)
client_key=$("$WG_WRAP" profile genkey)
server_pub=$(echo "$server_key" | "$WG_WRAP" profile pubkey)
client_pub=$(echo "$client_key" | "$WG_WRAP" profile pubkey)
port=$((20000 + $$ % 30000))

cat > "$dir/demo-server.conf" <<CONF
[Interface]
PrivateKey = $server_key
Address = 198.19.77.1/24
ListenPort = $port

[Peer]
PublicKey = $client_pub
AllowedIPs = 198.19.77.2/32
CONF

cat > "$dir/demo-client.conf" <<CONF
[Interface]
PrivateKey = $client_key
Address = 198.19.77.2/32
DNS = 198.19.77.1

[Peer]
PublicKey = $server_pub
AllowedIPs = 198.19.77.0/24
Endpoint = 127.0.0.1:$port
CONF

mkdir "$dir/www"
echo "Hello from inside the tunnel, served at $(date -u +%H:%M:%S) by PID $$'s demo" > "$dir/www/hello.txt"

# The server: python's HTTP server on the tunnel address, for 60 s at most.
"$WG_WRAP" -q --handshake-timeout 0 "$dir/demo-server.conf" -- \
    timeout 60 python3 -m http.server --bind 198.19.77.1 --directory "$dir/www" 8080 >/dev/null 2>&1 &
server=$!

echo "fetching http://198.19.77.1:8080/hello.txt through WireGuard from a second namespace:"
status=0
"$WG_WRAP" "$dir/demo-client.conf" -- sh -c '
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        curl -sS --max-time 2 http://198.19.77.1:8080/hello.txt 2>/dev/null && exit 0
        sleep 0.25
    done
    echo "no answer from the server namespace" >&2
    exit 1' || status=$?
exit "$status"
