#!/bin/sh
# mkroot.sh DIR USER BIN...: a minimal root filesystem made from this
# machine's own files: each BIN in /usr/bin, the libraries they load, the
# NSS modules, and a passwd and group with root and USER.
set -e
dir=$1 user=$2; shift 2
mkdir -p "$dir"
cd "$dir"
mkdir -p usr/bin usr/lib usr/lib64 etc proc sys dev run tmp home
ln -sfn usr/bin bin
ln -sfn usr/lib lib
ln -sfn usr/lib64 lib64
copy() { mkdir -p ".$(dirname "$1")"; cp -L "$1" ".$1"; }
for bin in "$@"; do
    cp -L "$bin" "usr/bin/$(basename "$bin")"
    for lib in $(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*'); do copy "$lib"; done
done
for lib in /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libnss_dns.so.2; do
    if [ -e "$lib" ]; then copy "$lib"; fi
done
copy /etc/nsswitch.conf
grep -E "^(root|$user):" /etc/passwd > etc/passwd
grep -E "^(root|$user):" /etc/group > etc/group
touch etc/hosts etc/resolv.conf etc/hostname
chown -R "$user:$user" "$dir"
