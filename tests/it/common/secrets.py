"""Looks for the profile's secrets everywhere PROG can read.

usage: secrets.py HEX...   (each HEX: a secret's bytes XOR 0x5a, so that this
script's argv does not itself hold the secret). Prints one line per finding
("found in ...") and then a summary line:
"scanned N processes, M memories readable, own fds A,B,C, wg vars K, engine memory readable: yes|no"
"""
import base64, os, re, sys

needles = []
for h in sys.argv[1:]:
    raw = bytes(b ^ 0x5A for b in bytes.fromhex(h))
    needles += [raw, base64.b64encode(raw)]

me = os.getpid()
found = []

def check(where, data):
    for n in needles:
        if n in data:
            found.append(where)
            return

check("own environ", b"\0".join(k.encode() + b"=" + v.encode() for k, v in os.environ.items()))
wg_vars = sum(1 for k in os.environ if k.startswith("WG_WRAP_"))
own_fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
own_fds = [fd for fd in own_fds if os.path.exists(f"/proc/self/fd/{fd}")]

pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
readable_memories = 0
engine_memory_readable = "no engine"
for pid in pids:
    if pid == me:
        continue
    for name in ("environ", "cmdline"):
        try:
            check(f"/proc/{pid}/{name}", open(f"/proc/{pid}/{name}", "rb").read())
        except OSError:
            pass
    try:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        cmdline = b""
    is_engine = cmdline.startswith(b"wg-up")
    readable = False
    try:
        maps = open(f"/proc/{pid}/maps").read().splitlines()
        with open(f"/proc/{pid}/mem", "rb", 0) as mem:
            for line in maps:
                m = re.match(r"([0-9a-f]+)-([0-9a-f]+) r", line)
                if not m:
                    continue
                start, end = int(m.group(1), 16), int(m.group(2), 16)
                if end - start > 256 << 20:
                    continue
                try:
                    mem.seek(start)
                    check(f"/proc/{pid}/mem", mem.read(end - start))
                    readable = True
                except (OSError, ValueError, OverflowError):
                    pass
    except OSError:
        pass
    readable_memories += readable
    if is_engine:
        engine_memory_readable = "yes" if readable else "no"
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                with open(f"/proc/{pid}/fd/{fd}", "rb") as f:
                    check(f"/proc/{pid}/fd/{fd}", f.read(1 << 20))
            except OSError:
                pass
    except OSError:
        pass

for where in found:
    print("found in", where)
print(f"scanned {len(pids)} processes, {readable_memories} memories readable, "
      f"own fds {','.join(map(str, own_fds))}, wg vars {wg_vars}, "
      f"engine memory readable: {engine_memory_readable}")
