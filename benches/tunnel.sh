#!/usr/bin/env bash
# Throughput, latency, CPU and start-up through wg-wrap and its peers, measured
# side by side in one run, reported as ratios. Run as root after
# `cargo build --release` (see README.md, "Performance"):
#
#   benches/tunnel.sh [--quick]
#
# PERF=1 also samples the engines with perf during each case's CPU run and
# prints where their time goes.
#
# Cases, each between two network namespaces joined by a veth (198.18.200.0/24):
#   a   raw veth, no tunnel (the limit of this machine)
#   b   wireguard-go <-> wireguard-go
#   b'  boringtun-cli --threads 1 <-> boringtun-cli --threads 1 (if installed:
#       cargo install boringtun-cli --locked)
#   bn  wireguard-go 0.0.20231211 (bookworm-backports: the 2023 TUN/UDP
#       offload work) on both ends; fetched with `apt-get download` into
#       target/bench-peers/ (bookworm-backports added to apt's sources if
#       missing), never installed over the system's
#   g   gotatun-cli (Mullvad's boringtun fork) on both ends (if installed:
#       cargo install --locked gotatun-cli)
#   c   wg-wrap (as the unprivileged user) -> wireguard-go server
#   cn  wg-wrap -> wireguard-go 0.0.20231211 server
#   cg  wg-wrap -> gotatun-cli server
#   d   wg-wrap <-> wg-wrap (the server side a wg-wrap namespace running iperf3 -s)
#   f   flood: a wireguard-go server in B; first a wireguard-go client, then
#       wg-wrap, in A, each measured (TCP, the server sending) without and
#       then during a 50,000/s flood of fake handshake initiations (half with
#       a valid mac1 for the client's key) at the client's UDP port, from
#       the unprivileged user (tests/it/common/flood.py)
#   m   path MTU 1300 (both veth ends), below the tunnels' 1420: wireguard-go
#       <-> wireguard-go, then wg-wrap in A -> wireguard-go in B; TCP both
#       ways (GSO sends of full-sized segments are refused on such a path)
#   n   many namespaces: 1, 4 and 16 clients at once against one wireguard-go
#       server (0.0.20231211 when fetched) with 16 peers, each client running
#       iperf3 to a port of its own: first wireguard-go clients (interfaces in
#       A, routed by source address), then wg-wrap namespaces; aggregate
#       throughput and the sum of the clients' RSS; then one pinned wg-wrap
#       namespace's engine RSS when idle (target <= 4 MiB)
# CASES="bp d" runs only those cases (and start-up only if d is among them).
# Per case: iperf3 TCP 1 and 4 streams both ways, the highest UDP rate at
# 1300-byte datagrams with under 1% loss (with iperf3's default socket
# buffers, where the receiving iperf3's 208 KiB overflow in a burst, and with
# 4 MiB buffers, where the tunnel sets the limit), ping RTT (median of 50
# pings), engine CPU seconds per GB moved; the median of RUNS runs. The RTT
# of (b') and (d) is also measured alternately, both tunnels up at once. Every run is bounded in time;
# everything made is removed on exit. The crypto floor (benches/crypto_floor.rs:
# sealing and opening a GB of 1420-byte packets with ring's ChaCha20-Poly1305,
# as boringtun does) is measured first; each engine's CPU per GB is also
# given as a multiple of it.
set -euo pipefail

cd "$(dirname "$0")/.."
WG_WRAP=${WG_WRAP:-$PWD/target/release/wg-wrap}
BENCH_USER=${WG_WRAP_TEST_USER:-wgwrap-test}
RUNS=${RUNS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CASES=" ${CASES:-a b bn bp g c cn cg n d f m} "
if [ "${1:-}" = "--quick" ]; then RUNS=1; SECONDS_PER_RUN=3; fi
want() { [[ $CASES == *" $1 "* ]]; }

[ "$(id -u)" = 0 ] || { echo "benches/tunnel.sh: run as root" >&2; exit 1; }
[ -x "$WG_WRAP" ] || { echo "benches/tunnel.sh: build first: cargo build --release" >&2; exit 1; }
for tool in iperf3 wireguard-go wg ping python3 setpriv nsenter; do
    command -v "$tool" >/dev/null || { echo "benches/tunnel.sh: $tool is missing" >&2; exit 1; }
done
uid=$(id -u "$BENCH_USER"); gid=$(id -g "$BENCH_USER")

# The strongest peers of today, beside the old ones.
PEERS=$PWD/target/bench-peers
WG_GO_NEW=${WG_GO_NEW:-$PEERS/wireguard-go-backports/usr/bin/wireguard-go}
GOTATUN=${GOTATUN:-$(command -v gotatun || echo "$HOME/.cargo/bin/gotatun")}
fetch_wireguard_go_new() {
    [ -x "$WG_GO_NEW" ] && return 0
    local dir=$PEERS/wireguard-go-backports
    if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            > /etc/apt/sources.list.d/wg-wrap-bench-backports.sources
    fi
    apt-get update -qq >/dev/null 2>&1 || true
    mkdir -p "$dir"
    (cd "$dir" && apt-get download -qq wireguard-go/bookworm-backports >/dev/null 2>&1 \
        && dpkg-deb -x wireguard-go_*.deb .) || true
    [ -x "$WG_GO_NEW" ]
}
if want bn || want cn; then
    fetch_wireguard_go_new || echo "bn, cn  skipped: cannot fetch wireguard-go from bookworm-backports" >&2
fi
FLOOR=$(cargo bench -q --bench crypto_floor 2>/dev/null | awk '/^floor/ { print $2 }')
FLOOR=${FLOOR:-0}

tag=$(printf '%x' $(( $$ % 65536 )))
A=wbA$tag; B=wbB$tag
work=$(mktemp -d /tmp/wg-wrap-bench.XXXXXX)
chmod 755 "$work"
pids=(); wg_pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    pkill -u "$uid" -f "iperf3 -s -p 52" 2>/dev/null || true
    for ns in "$A" "$B"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -f /var/run/wireguard/wb?"$tag"*.sock
    # The user's wg-wrap engines of this run end with their namespaces.
    for pid in $(pgrep -u "$uid" -f "^wg-up" 2>/dev/null); do
        if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -q "^HOME=$work/home$"; then kill "$pid" 2>/dev/null || true; fi
    done
    [ -s "$work/errors" ] && { echo "errors seen:"; sort -u "$work/errors" | head -20; } >&2
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# --- the two namespaces and the veth ---------------------------------------
ip netns add "$A"; ip netns add "$B"
ip -n "$A" link add "wv$tag" type veth peer name "wu$tag" netns "$B"
ip -n "$A" addr add 198.18.200.1/24 dev "wv$tag"; ip -n "$B" addr add 198.18.200.2/24 dev "wu$tag"
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set "wv$tag" up; ip -n "$B" link set "wu$tag" up

in_a() { nsenter --net="/run/netns/$A" -- "$@"; }
in_b() { nsenter --net="/run/netns/$B" -- "$@"; }
# The prefix that runs a command as the unprivileged user, with a HOME of its own.
AS_USER=(setpriv --reuid="$uid" --regid="$gid" --clear-groups --
    env -i HOME="$work/home" XDG_RUNTIME_DIR="$work/run" XDG_CONFIG_HOME="$work/home/.config"
    PATH=/usr/local/bin:/usr/bin:/bin)
mkdir -p "$work/home" "$work/run"; chmod 700 "$work/home" "$work/run"; chown "$uid:$gid" "$work/home" "$work/run"
cp "$WG_WRAP" "$work/wg-wrap"; chmod 755 "$work/wg-wrap"

key() { wg genkey; }
pub() { echo "$1" | wg pubkey; }
KA=$(key); KB=$(key); PA=$(pub "$KA"); PB=$(pub "$KB")
echo "$KA" > "$work/ka"; echo "$KB" > "$work/kb"

# A profile for wg-wrap on side A or B.
profile() { # SIDE OWN_KEY PEER_PUB ENDPOINT LISTEN
    local side=$1 addr peer_addr
    if [ "$side" = A ]; then addr=198.19.200.1; peer_addr=198.19.200.2; else addr=198.19.200.2; peer_addr=198.19.200.1; fi
    {
        echo "[Interface]"; echo "PrivateKey = $2"; echo "Address = $addr/24"
        [ -n "$5" ] && echo "ListenPort = $5"
        echo "[Peer]"; echo "PublicKey = $3"; echo "AllowedIPs = $peer_addr/32"
        [ -n "$4" ] && echo "Endpoint = $4"
    } > "$work/$side.conf"
    chown "$uid:$gid" "$work/$side.conf"; chmod 600 "$work/$side.conf"
}

# A kernel-less WireGuard interface: wireguard-go or boringtun-cli, in NS.
userspace_wg() { # IMPL NS IFACE KEYFILE PEER_PUB ADDR PEER_ADDR PORT [ENDPOINT]
    local ifc=$3
    wg_daemon "$1" "$2" "$3"
    local endpoint=()
    [ -n "${9:-}" ] && endpoint=(endpoint "$9")
    nsenter --net="/run/netns/$2" wg set "$ifc" private-key "$4" listen-port "$8" peer "$5" allowed-ips "$7/32" "${endpoint[@]}"
    ip -n "$2" addr add "$6/24" dev "$ifc"; ip -n "$2" link set "$ifc" up
}
wg_daemon() { # IMPL NS IFACE: the interface, its control socket ready
    local impl=$1 ns=$2 ifc=$3
    # A peer that ended may leave its control socket (gotatun does).
    rm -f "/var/run/wireguard/$ifc.sock"
    case $impl in
        wireguard-go) nsenter --net="/run/netns/$ns" env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wireguard-go -f "$ifc" >/dev/null 2>&1 & ;;
        boringtun) nsenter --net="/run/netns/$ns" boringtun-cli --foreground --disable-drop-privileges --threads 1 "$ifc" >/dev/null 2>&1 & ;;
        wireguard-go-new) nsenter --net="/run/netns/$ns" env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 "$WG_GO_NEW" -f "$ifc" >/dev/null 2>&1 & ;;
        gotatun) nsenter --net="/run/netns/$ns" "$GOTATUN" -f --disable-drop-privileges -v error "$ifc" >/dev/null 2>&1 & ;;
    esac
    pids+=($!); wg_pids+=($!)
    for _ in $(seq 100); do [ -S "/var/run/wireguard/$ifc.sock" ] && break; sleep 0.05; done
}

# --- measurements ------------------------------------------------------------
# iperf3 from side A to server SERVER (in B); prints Gbit/s. MODE: tcp1 tcp4 tcp1r tcp4r
CLIENT=(in_a)     # how to run a client command on side A
iperf() { # SERVER MODE
    local args=(-c "$1" -p 5201 -t "$SECONDS_PER_RUN" -J)
    case $2 in tcp4|tcp4r) args+=(-P 4);; esac
    case $2 in tcp1r|tcp4r) args+=(-R);; esac
    "${CLIENT[@]}" timeout $((SECONDS_PER_RUN + 20)) iperf3 "${args[@]}" 2>>"$work/errors" \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.3f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))' \
        || echo 0
}
# The highest UDP rate (Gbit/s) at 1300-byte datagrams with under 1% loss:
# a bisection of the offered rate to within 16 Mbit/s, reporting what the
# receiver got at the best passing rate (a sender may fall short of what it
# is asked). A rate that fails is tried once more, so that one scheduling
# hiccup does not end the search low. Extra arguments go to the iperf3
# client: `-w 4M` gives both iperf3 sockets 4 MiB buffers.
udp_trial() { # SERVER RATE [IPERF3 ARGS...] -> "LOST_PERCENT RECEIVED_MBIT"
    local server=$1 rate=$2
    shift 2
    "${CLIENT[@]}" timeout 20 iperf3 -c "$server" -p 5201 -u -l 1300 -b "${rate}M" -t 2 -J "$@" 2>/dev/null \
        | python3 -c 'import json,sys; d=json.load(sys.stdin)["end"]["sum"]; print(d["lost_percent"], int(d["bits_per_second"] / 1e6))' \
        || echo "100 0"
}
udp_rate() { # SERVER [IPERF3 ARGS...] -> Gbit/s received at the best passing rate
    local server=$1 lo=0 hi=8000 best=0 mid loss got try   # Mbit/s
    shift
    for _ in 1 2 3 4 5 6 7 8 9; do
        mid=$(( (lo + hi) / 2 ))
        for try in 1 2; do
            read -r loss got <<< "$(udp_trial "$server" "$mid" "$@")"
            if python3 -c "import sys; sys.exit(0 if float('$loss') < 1 else 1)"; then break; fi
            got=
        done
        if [ -n "$got" ]; then
            lo=$mid; [ "$got" -gt "$best" ] && best=$got
        else
            hi=$mid
        fi
    done
    python3 -c "print('%.3f' % ($best / 1000))"
}
rtt() { # ADDR -> median ms of 50 pings
    "${CLIENT[@]}" timeout 30 ping -c 50 -i 0.01 -q -W 1 "$1" 2>/dev/null >/dev/null || true
    "${CLIENT[@]}" timeout 30 ping -c 50 -i 0.01 -W 1 "$1" 2>/dev/null \
        | python3 -c 'import re,sys,statistics; v=[float(m) for m in re.findall(r"time=([0-9.]+)", sys.stdin.read())]; print("%.3f" % statistics.median(v) if v else "nan")'
}
rtt_samples() { # ADDR -> the times of 50 pings, one per line
    "${CLIENT[@]}" timeout 30 ping -c 50 -i 0.01 -W 1 "$1" 2>/dev/null | grep -o 'time=[0-9.]*' | cut -d= -f2 || true
}
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print("%.3f" % statistics.median(v) if v else "nan")' "$@"; }
cpu_ticks() { # PIDS... -> utime+stime
    local total=0 pid
    for pid in "$@"; do
        [ -r "/proc/$pid/stat" ] || continue
        total=$(( total + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat") ))
    done
    echo "$total"
}
engines() { { pgrep -u "$uid" -f "^wg-up" || true; } | while read -r pid; do
    if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -q "^HOME=$work/home$"; then echo "$pid"; fi; done; }

declare -A RESULT
tun_drops() { # -> packets dropped at wg0's queue in the wg-wrap engines' namespaces, summed
    local pids; pids=$(engines); [ -n "$pids" ] || return 0
    for pid in $pids; do nsenter -t "$pid" -n ip -j -s link show wg0 2>/dev/null || echo '[]'; done \
        | python3 -c 'import json,sys; print(sum(l["stats64"]["tx"]["dropped"] for line in sys.stdin for l in json.loads(line)))'
}
ratio() { python3 -c "a,b=float('${1:-0}' or 0),float('${2:-0}' or 0); print('%.2f' % (a/b) if b else 'n/a')"; }
measure() { # CASE SERVER_ADDR
    local case=$1 addr=$2 mode r vals
    for mode in tcp1 tcp1r tcp4 tcp4r; do
        vals=(); for r in $(seq "$RUNS"); do vals+=("$(iperf "$addr" "$mode")"); done
        RESULT[$case,$mode]=$(median "${vals[@]}")
    done
    local drops=$(tun_drops)
    RESULT[$case,udp]=$(udp_rate "$addr")
    RESULT[$case,udpw]=$(udp_rate "$addr" -w 4M)
    # Where wg-wrap's UDP losses happen: packets its TUN's queue dropped
    # while the engine waited for a core (none for the other cases).
    [ -n "$drops" ] && RESULT[$case,tundrops]=$(( $(tun_drops) - drops ))
    vals=(); for r in $(seq "$RUNS"); do vals+=("$(rtt "$addr")"); done
    RESULT[$case,rtt]=$(median "${vals[@]}")
    # Engine CPU per GB: one more single-stream run with the engines' ticks read around it.
    local e t0 t1 bytes
    # Both ends' engines: wireguard-go or boringtun-cli for b and b', wg-wrap's
    # for c (its end only) and d.
    case $case in b|bp|bn|g) e="${wg_pids[*]}";; *) e=$(engines | tr '\n' ' ');; esac
    if [ -n "$e" ]; then
        local perf=
        if [ -n "${PERF:-}" ] && command -v perf >/dev/null; then
            perf record -q -g -F 999 -o "$work/perf-$case.data" -p "$(echo $e | tr ' ' ',')" -- sleep "$SECONDS_PER_RUN" >/dev/null 2>&1 &
            perf=$!
        fi
        t0=$(cpu_ticks $e)
        bytes=$("${CLIENT[@]}" timeout $((SECONDS_PER_RUN + 20)) iperf3 -c "$addr" -p 5201 -t "$SECONDS_PER_RUN" -J 2>/dev/null \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bytes"])' || echo 0)
        t1=$(cpu_ticks $e)
        if [ -n "$perf" ]; then
            wait "$perf" || true
            echo "    where $case's engines spend their time (perf, self): by object, then the top symbols"
            { perf report -i "$work/perf-$case.data" --no-children --sort dso -g none -q 2>/dev/null \
                | grep -v '^$' | head -4 | sed 's/^/      /'; } || true
            { perf report -i "$work/perf-$case.data" --no-children --sort sym -g none -q 2>/dev/null \
                | grep -v '^$' | head -12 | sed 's/^/      /'; } || true
        fi
        RESULT[$case,cpu]=$(python3 -c "print('%.2f' % ((($t1 - $t0) / $(getconf CLK_TCK)) / max($bytes / 1e9, 1e-9)))")
    else
        RESULT[$case,cpu]=-
    fi
    printf '%-3s tcp1 %s tcp1r %s tcp4 %s tcp4r %s Gbit/s | udp %s, 4 MiB buffers %s Gbit/s | rtt %s ms | engine cpu %s s/GB (%sx the floor)\n' \
        "$case" "${RESULT[$case,tcp1]}" "${RESULT[$case,tcp1r]}" "${RESULT[$case,tcp4]}" "${RESULT[$case,tcp4r]}" \
        "${RESULT[$case,udp]}" "${RESULT[$case,udpw]}" "${RESULT[$case,rtt]}" "${RESULT[$case,cpu]}" \
        "$(ratio "${RESULT[$case,cpu]/-/0}" "$FLOOR")"
    if [ -n "${RESULT[$case,tundrops]:-}" ]; then
        echo "    $case: datagrams dropped at the TUN's queue (wg0, $(tun_queue) packets) in the UDP searches, overloaded trials included: ${RESULT[$case,tundrops]}"
    fi
}
tun_queue() { nsenter -t "$(engines | head -1)" -n ip -o link show wg0 | grep -o 'qlen [0-9]*' | cut -d' ' -f2; }
server_iperf() { # NS ADDR  (root iperf3 -s in NS, bound to ADDR)
    nsenter --net="/run/netns/$1" timeout 600 iperf3 -s -p 5201 -B "$2" >/dev/null 2>&1 &
    pids+=($!); sleep 0.3
}
stop_all_peers() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    pids=(); wg_pids=(); sleep 0.3
    for ns in "$A" "$B"; do ip -n "$ns" -o link | awk -F': ' '/wb[ab]/ { print $2 }' | cut -d@ -f1 | while read -r l; do ip -n "$ns" link del "$l" 2>/dev/null || true; done; done
}

echo "wg-wrap benchmark: $(nproc) cores, $(uname -r), runs=$RUNS x ${SECONDS_PER_RUN}s"
echo "crypto floor: $FLOOR s/GB (ring ChaCha20-Poly1305, seal and open, 1420-byte packets)"
[ -x "$WG_GO_NEW" ] && echo "wireguard-go (new): $WG_GO_NEW"
[ -x "$GOTATUN" ] && echo "gotatun: $("$GOTATUN" --version 2>/dev/null | head -1)"

# (a) raw veth
if want a; then
    server_iperf "$B" 198.18.200.2
    CLIENT=(in_a); measure a 198.18.200.2
    stop_all_peers
fi

# (b) wireguard-go <-> wireguard-go
if want b; then
    userspace_wg wireguard-go "$B" "wbb$tag" "$work/kb" "$PA" 198.19.200.2 198.19.200.1 51820
    userspace_wg wireguard-go "$A" "wba$tag" "$work/ka" "$PB" 198.19.200.1 198.19.200.2 51821 198.18.200.2:51820
    server_iperf "$B" 198.19.200.2
    CLIENT=(in_a); measure b 198.19.200.2
    stop_all_peers
fi

# (b') boringtun-cli --threads 1 on both ends
if ! want bp; then
    :
elif command -v boringtun-cli >/dev/null; then
    userspace_wg boringtun "$B" "wbb$tag" "$work/kb" "$PA" 198.19.200.2 198.19.200.1 51820
    userspace_wg boringtun "$A" "wba$tag" "$work/ka" "$PB" 198.19.200.1 198.19.200.2 51821 198.18.200.2:51820
    server_iperf "$B" 198.19.200.2
    CLIENT=(in_a); measure bp 198.19.200.2
    stop_all_peers
else
    echo "b'  skipped: boringtun-cli is not installed (cargo install boringtun-cli --locked)"
fi

# (bn) wireguard-go 0.0.20231211 on both ends
if want bn && [ -x "$WG_GO_NEW" ]; then
    userspace_wg wireguard-go-new "$B" "wbb$tag" "$work/kb" "$PA" 198.19.200.2 198.19.200.1 51820
    userspace_wg wireguard-go-new "$A" "wba$tag" "$work/ka" "$PB" 198.19.200.1 198.19.200.2 51821 198.18.200.2:51820
    server_iperf "$B" 198.19.200.2
    CLIENT=(in_a); measure bn 198.19.200.2
    stop_all_peers
fi

# (g) gotatun-cli on both ends
if ! want g; then
    :
elif [ -x "$GOTATUN" ]; then
    userspace_wg gotatun "$B" "wbb$tag" "$work/kb" "$PA" 198.19.200.2 198.19.200.1 51820
    userspace_wg gotatun "$A" "wba$tag" "$work/ka" "$PB" 198.19.200.1 198.19.200.2 51821 198.18.200.2:51820
    server_iperf "$B" 198.19.200.2
    CLIENT=(in_a); measure g 198.19.200.2
    stop_all_peers
else
    echo "g   skipped: gotatun-cli is not installed (cargo install --locked gotatun-cli)"
fi

# The client side of (c) and (d): one pinned wg-wrap namespace in A, joined by
# every client command, so that its engine's CPU time can be read around a run.
client_pin() {
    profile A "$KA" "$PB" 198.18.200.2:51820 ""
    in_a "${AS_USER[@]}" "$work/wg-wrap" -q --handshake-timeout 2 --pin "bench$tag" "$work/A.conf" -- true
    CLIENT=(in_a "${AS_USER[@]}" "$work/wg-wrap" --join "bench$tag" --)
}
client_unpin() { in_a "${AS_USER[@]}" "$work/wg-wrap" pin --remove "bench$tag" || true; }

# (c) wg-wrap as the user in A -> wireguard-go in B
if want c; then
    userspace_wg wireguard-go "$B" "wbb$tag" "$work/kb" "$PA" 198.19.200.2 198.19.200.1 51820
    server_iperf "$B" 198.19.200.2
    client_pin; measure c 198.19.200.2; client_unpin
    stop_all_peers
fi

# (cn), (cg) wg-wrap in A -> wireguard-go 0.0.20231211 or gotatun-cli in B
for pair in "cn wireguard-go-new $WG_GO_NEW" "cg gotatun $GOTATUN"; do
    read -r case impl binary <<< "$pair"
    want "$case" && [ -x "$binary" ] || continue
    userspace_wg "$impl" "$B" "wbb$tag" "$work/kb" "$PA" 198.19.200.2 198.19.200.1 51820
    server_iperf "$B" 198.19.200.2
    client_pin; measure "$case" 198.19.200.2; client_unpin
    stop_all_peers
done

# (f) throughput during a flood of fake initiations at the client's port, as a
# fraction of the same client's throughput just before, for each client.
FLOOD_RATE=${FLOOD_RATE:-50000}
flood_measure() { # NAME PORT ENGINE_PIDS...
    local name=$1 port=$2 calm flooded flood t0 t1
    shift 2
    calm=$(iperf 198.19.200.2 tcp1r)
    cp tests/it/common/flood.py "$work/flood.py"; chmod 644 "$work/flood.py"
    in_a "${AS_USER[@]}" timeout $((SECONDS_PER_RUN + 30)) python3 "$work/flood.py" 127.0.0.1 "$port" \
        "$FLOOD_RATE" $((SECONDS_PER_RUN + 2)) "$PA" > "$work/flood.out" 2>>"$work/errors" &
    flood=$!; sleep 1
    t0=$(cpu_ticks "$@")
    flooded=$(iperf 198.19.200.2 tcp1r)
    t1=$(cpu_ticks "$@")
    wait "$flood" || true
    RESULT[f,$name]=$(ratio "$flooded" "$calm")
    printf 'f   %-12s tcp1r %s Gbit/s calm, %s Gbit/s flooded (%s) | engine cpu during the flood %s%% of a core | %s\n' \
        "$name" "$calm" "$flooded" "${RESULT[f,$name]}" \
        "$(python3 -c "print('%.0f' % (100 * ($t1 - $t0) / $(getconf CLK_TCK) / $SECONDS_PER_RUN))")" "$(cat "$work/flood.out")"
}
if want f; then
    userspace_wg wireguard-go "$B" "wbb$tag" "$work/kb" "$PA" 198.19.200.2 198.19.200.1 51820
    server_iperf "$B" 198.19.200.2
    userspace_wg wireguard-go "$A" "wba$tag" "$work/ka" "$PB" 198.19.200.1 198.19.200.2 51821 198.18.200.2:51820
    CLIENT=(in_a); flood_measure wireguard-go 51821 "${wg_pids[-1]}"
    kill "${wg_pids[-1]}"; sleep 0.3
    client_pin
    engine=$(engines | head -1)
    port=$(in_a ss -Huanp | grep "pid=$engine," | awk '{ print $4 }' | sed 's/.*://')
    flood_measure wg-wrap "$port" "$engine"
    client_unpin
    stop_all_peers
fi

# (m) a path MTU of 1300: wg-wrap against wireguard-go on the same path.
if want m; then
    ip -n "$A" link set "wv$tag" mtu 1300; ip -n "$B" link set "wu$tag" mtu 1300
    userspace_wg wireguard-go "$B" "wbb$tag" "$work/kb" "$PA" 198.19.200.2 198.19.200.1 51820
    server_iperf "$B" 198.19.200.2
    userspace_wg wireguard-go "$A" "wba$tag" "$work/ka" "$PB" 198.19.200.1 198.19.200.2 51821 198.18.200.2:51820
    CLIENT=(in_a)
    RESULT[m,wg-go,up]=$(iperf 198.19.200.2 tcp1); RESULT[m,wg-go,down]=$(iperf 198.19.200.2 tcp1r)
    kill "${wg_pids[-1]}"; sleep 0.3
    client_pin
    RESULT[m,ours,up]=$(iperf 198.19.200.2 tcp1); RESULT[m,ours,down]=$(iperf 198.19.200.2 tcp1r)
    client_unpin
    stop_all_peers
    ip -n "$A" link set "wv$tag" mtu 1500; ip -n "$B" link set "wu$tag" mtu 1500
    printf 'm   path MTU 1300, TCP A->B / B->A: wireguard-go %s / %s Gbit/s, wg-wrap %s / %s Gbit/s (%s / %s)\n' \
        "${RESULT[m,wg-go,up]}" "${RESULT[m,wg-go,down]}" "${RESULT[m,ours,up]}" "${RESULT[m,ours,down]}" \
        "$(ratio "${RESULT[m,ours,up]}" "${RESULT[m,wg-go,up]}")" "$(ratio "${RESULT[m,ours,down]}" "${RESULT[m,wg-go,down]}")"
fi

# (n) many namespaces at once against one server with 16 peers.
rss_kib() { # PIDS... -> the sum of their VmRSS, KiB
    local total=0 pid
    for pid in "$@"; do
        [ -r "/proc/$pid/status" ] || continue
        total=$(( total + $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status") ))
    done
    echo "$total"
}
many_iperf() { # COUNT OUTDIR CLIENT RSS: COUNT iperf3 clients at once (CLIENT i
    # runs client i), RSS (a function) read halfway; prints the aggregate Gbit/s
    local count=$1 dir=$2 run=$3 i
    local waits=()
    for i in $(seq "$count"); do
        "$run" "$i" > "$dir/iperf-$i.json" 2>>"$work/errors" &
        waits+=($!)
    done
    sleep $(( SECONDS_PER_RUN / 2 ))
    "$4" > "$dir/rss"
    for i in "${waits[@]}"; do wait "$i" || true; done
    for i in $(seq "$count"); do
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e9)' "$dir/iperf-$i.json" 2>/dev/null || echo 0
    done | python3 -c 'import sys; print("%.3f" % sum(float(x) for x in sys.stdin))'
}
if want n; then
    impl=wireguard-go; [ -x "$WG_GO_NEW" ] && impl=wireguard-go-new
    KS=$(key); echo "$KS" > "$work/ks"; PS=$(pub "$KS")
    wg_daemon "$impl" "$B" "wbn$tag"
    server_pid=${wg_pids[-1]}
    set_peers=(private-key "$work/ks" listen-port 51840)
    for i in $(seq 16); do
        k=$(key); echo "$k" > "$work/kn$i"
        set_peers+=(peer "$(pub "$k")" allowed-ips "198.19.210.$i/32")
        printf '[Interface]\nPrivateKey = %s\nAddress = 198.19.210.%s/32\n[Peer]\nPublicKey = %s\nAllowedIPs = 198.19.210.254/32\nEndpoint = 198.18.200.2:51840\n' \
            "$k" "$i" "$PS" > "$work/n$i.conf"
        chown "$uid:$gid" "$work/n$i.conf"; chmod 600 "$work/n$i.conf"
    done
    nsenter --net="/run/netns/$B" wg set "wbn$tag" "${set_peers[@]}"
    ip -n "$B" addr add 198.19.210.254/24 dev "wbn$tag"; ip -n "$B" link set "wbn$tag" up
    for i in $(seq 16); do
        nsenter --net="/run/netns/$B" timeout 900 iperf3 -s -p $((5300 + i)) -B 198.19.210.254 >/dev/null 2>&1 &
        pids+=($!)
    done
    sleep 0.3
    mkdir -p "$work/many"
    go_client() { in_a timeout $((SECONDS_PER_RUN + 20)) iperf3 -c 198.19.210.254 -p $((5300 + $1)) -B "198.19.210.$1" -t "$SECONDS_PER_RUN" -J; }
    ours_client() { in_a "${AS_USER[@]}" "$work/wg-wrap" -q --handshake-timeout 5 "$work/n$1.conf" -- \
        timeout $((SECONDS_PER_RUN + 20)) iperf3 -c 198.19.210.254 -p $((5300 + $1)) -t "$SECONDS_PER_RUN" -J; }
    for count in 1 4 16; do
        go=()
        for i in $(seq "$count"); do
            wg_daemon "$impl" "$A" "wn$i$tag"
            go+=("${wg_pids[-1]}")
            in_a wg set "wn$i$tag" private-key "$work/kn$i" listen-port $((51850 + i)) \
                peer "$PS" allowed-ips 198.19.210.254/32 endpoint 198.18.200.2:51840
            ip -n "$A" addr add "198.19.210.$i/32" dev "wn$i$tag"; ip -n "$A" link set "wn$i$tag" up
            ip -n "$A" rule add from "198.19.210.$i" table $((200 + i))
            ip -n "$A" route add 198.19.210.254/32 dev "wn$i$tag" table $((200 + i))
        done
        go_rss() { rss_kib "${go[@]}"; }
        RESULT[n,$count,go]=$(many_iperf "$count" "$work/many" go_client go_rss)
        RESULT[n,$count,go_rss]=$(cat "$work/many/rss")
        for i in $(seq "$count"); do
            ip -n "$A" rule del from "198.19.210.$i" table $((200 + i)) 2>/dev/null || true
        done
        kill "${go[@]}" 2>/dev/null || true; sleep 0.5
        ours_rss() { rss_kib $(engines); }
        RESULT[n,$count,ours]=$(many_iperf "$count" "$work/many" ours_client ours_rss)
        RESULT[n,$count,ours_rss]=$(cat "$work/many/rss")
        sleep 1
        printf 'n   %2s at once: wireguard-go clients %s Gbit/s, RSS %s MiB | wg-wrap namespaces %s Gbit/s, engines RSS %s MiB (throughput %s, RSS %s)\n' \
            "$count" "${RESULT[n,$count,go]}" "$(python3 -c "print('%.1f' % (${RESULT[n,$count,go_rss]} / 1024))")" \
            "${RESULT[n,$count,ours]}" "$(python3 -c "print('%.1f' % (${RESULT[n,$count,ours_rss]} / 1024))")" \
            "$(ratio "${RESULT[n,$count,ours]}" "${RESULT[n,$count,go]}")" "$(ratio "${RESULT[n,$count,ours_rss]}" "${RESULT[n,$count,go_rss]}")"
    done
    # One pinned namespace, idle after its handshake.
    in_a "${AS_USER[@]}" "$work/wg-wrap" -q --handshake-timeout 5 --pin "idle$tag" "$work/n1.conf" -- true
    sleep 3
    idle=$(rss_kib $(engines))
    in_a "${AS_USER[@]}" "$work/wg-wrap" pin --remove "idle$tag" || true
    RESULT[n,idle]=$idle
    echo "n   an idle pinned engine: RSS $(python3 -c "print('%.2f' % ($idle / 1024))") MiB (target <= 4 MiB)"
    stop_all_peers
fi

# (d) wg-wrap <-> wg-wrap: iperf3 -s inside a wg-wrap namespace in B
want d || exit 0
profile B "$KB" "$PA" "" 51820
in_b "${AS_USER[@]}" "$work/wg-wrap" -q --handshake-timeout 0 "$work/B.conf" -- timeout 900 iperf3 -s -p 5201 >/dev/null 2>&1 &
pids+=($!); sleep 0.5
client_pin; measure d 198.19.200.2

# RTT drifts on a shared machine by more than the gap between (b') and (d)
# minutes apart, so their ratio comes from pings alternated between the two,
# both up at once: 5 rounds of 50 each, pooled.
if [ -n "${RESULT[bp,tcp1]:-}" ]; then
    KC=$(key); KD=$(key); echo "$KC" > "$work/kc"; echo "$KD" > "$work/kd"
    userspace_wg boringtun "$B" "wbb$tag" "$work/kd" "$(pub "$KC")" 198.19.201.2 198.19.201.1 51830
    userspace_wg boringtun "$A" "wba$tag" "$work/kc" "$(pub "$KD")" 198.19.201.1 198.19.201.2 51831 198.18.200.2:51830
    ours=("${CLIENT[@]}"); : > "$work/rtt-bp"; : > "$work/rtt-d"
    CLIENT=(in_a); rtt 198.19.201.2 >/dev/null
    for _ in 1 2 3 4 5; do
        CLIENT=(in_a); rtt_samples 198.19.201.2 >> "$work/rtt-bp"
        CLIENT=("${ours[@]}"); rtt_samples 198.19.200.2 >> "$work/rtt-d"
    done
    RESULT[bp,rtt_pooled]=$(median $(cat "$work/rtt-bp"))
    RESULT[d,rtt_pooled]=$(median $(cat "$work/rtt-d"))
    echo "rtt alternated, median of $(wc -l < "$work/rtt-d") pings each: b' ${RESULT[bp,rtt_pooled]} ms, d ${RESULT[d,rtt_pooled]} ms"
fi
client_unpin
stop_all_peers

# Start-up: wg-wrap PROFILE -- true against unshare -Urn true (median of 50,
# ms): back to back, and 0.5 s apart (when the namespace of the run before
# has ended: back to back, each start waits behind the kernel's teardown of
# the namespaces before it).
cat > "$work/startup.py" <<'PY'
import statistics, subprocess, sys, time
gap = float(sys.argv[1])
times = []
for _ in range(50):
    t = time.perf_counter(); subprocess.run(sys.argv[2:], check=False); times.append((time.perf_counter() - t) * 1000)
    time.sleep(gap)
print("%.2f" % statistics.median(times))
PY
floor=$(in_a "${AS_USER[@]}" python3 "$work/startup.py" 0 unshare -Urn true)
profile A "$KA" "$PB" 198.18.200.2:51820 ""
for gap in 0.5 0; do
    ours=$(in_a "${AS_USER[@]}" python3 "$work/startup.py" "$gap" "$work/wg-wrap" -q --handshake-timeout 0 "$work/A.conf" -- true)
    sleep 2
    echo "start-up, runs ${gap} s apart: wg-wrap $ours ms, unshare -Urn true $floor ms, difference $(python3 -c "print('%.2f' % ($ours - $floor))") ms (target <= 3)"
done

echo "ratios (TCP single stream A->B unless said):"
echo "  (c)/(b)   $(ratio "${RESULT[c,tcp1]:-}" "${RESULT[b,tcp1]:-}")   target >= 1.5"
echo "  (d)/(b)   $(ratio "${RESULT[d,tcp1]:-}" "${RESULT[b,tcp1]:-}")   target >= 3"
if [ -n "${RESULT[bp,tcp1]:-}" ]; then
    echo "  (d)/(b')  $(ratio "${RESULT[d,tcp1]:-}" "${RESULT[bp,tcp1]:-}")   target >= 2"
    echo "  udp (d)/(b')  $(ratio "${RESULT[d,udp]:-}" "${RESULT[bp,udp]:-}"), with 4 MiB buffers $(ratio "${RESULT[d,udpw]:-}" "${RESULT[bp,udpw]:-}")   target >= 1.5"
    echo "  rtt (d)/(b')  $(ratio "${RESULT[d,rtt_pooled]:-}" "${RESULT[bp,rtt_pooled]:-}") alternated ($(ratio "${RESULT[d,rtt]:-}" "${RESULT[bp,rtt]:-}") minutes apart)   target <= 1"
fi
if [ -n "${RESULT[bn,tcp1]:-}" ]; then
    echo "  against wireguard-go 0.0.20231211 (bn): (d)/(bn) tcp1 $(ratio "${RESULT[d,tcp1]:-}" "${RESULT[bn,tcp1]}")   target >= 2"
    echo "    udp, 4 MiB buffers (d)/(bn) $(ratio "${RESULT[d,udpw]:-}" "${RESULT[bn,udpw]:-}")   target >= 3"
    echo "    rtt (d)/(bn) $(ratio "${RESULT[d,rtt]:-}" "${RESULT[bn,rtt]:-}")   target <= 0.5"
    echo "    (cn)/(bn) tcp1 $(ratio "${RESULT[cn,tcp1]:-}" "${RESULT[bn,tcp1]}")   target >= 1.3"
fi
if [ -n "${RESULT[g,tcp1]:-}" ]; then
    echo "  against gotatun-cli (g): (d)/(g) tcp1 $(ratio "${RESULT[d,tcp1]:-}" "${RESULT[g,tcp1]}"), (cg)/(g) $(ratio "${RESULT[cg,tcp1]:-}" "${RESULT[g,tcp1]}")"
fi
echo "  engine cpu per GB (d) / crypto floor  $(ratio "${RESULT[d,cpu]:-}" "$FLOOR")   target <= 1.5"
echo "  4 streams / 1 stream (d)  $(ratio "${RESULT[d,tcp4]:-}" "${RESULT[d,tcp1]:-}")   target >= 1"
echo "  (d)/(a)   $(ratio "${RESULT[d,tcp1]:-}" "${RESULT[a,tcp1]:-}")   (distance to the wire)"
if [ -n "${RESULT[m,ours,up]:-}" ]; then
    echo "  path MTU 1300, wg-wrap / wireguard-go: A->B $(ratio "${RESULT[m,ours,up]}" "${RESULT[m,wg-go,up]}"), B->A $(ratio "${RESULT[m,ours,down]}" "${RESULT[m,wg-go,down]}")   target >= 0.5"
fi
if [ -n "${RESULT[f,wg-wrap]:-}" ]; then
    echo "  flooded/calm (f): wg-wrap ${RESULT[f,wg-wrap]}, wireguard-go ${RESULT[f,wireguard-go]}   target >= 0.5"
fi
