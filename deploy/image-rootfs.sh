#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The runtime image's whole file system: allocscoped and allocscope, every shared library they
# load (as ldd resolves them, with the symlinks that lead to each), the dynamic loader, and the
# CA bundle for --push over HTTPS. Nothing else: no shell, no package manager.
#   deploy/image-rootfs.sh DEST build/allocscoped build/allocscope
set -euo pipefail
dest=$1
daemon=$2
cli=$3

# Copy a path and every symlink on the way to the file it names, each at its own path.
copy() {
	local p=$1 t
	while :; do
		mkdir -p "$dest$(dirname "$p")"
		cp -a "$p" "$dest$p"
		[ -L "$p" ] || break
		t=$(readlink "$p")
		case $t in
		/*) p=$t ;;
		*) p=$(dirname "$p")/$t ;;
		esac
	done
}

mkdir -p "$dest/usr/local/sbin" "$dest/usr/local/bin" "$dest/tmp"
chmod 1777 "$dest/tmp"
install -m 0755 "$daemon" "$dest/usr/local/sbin/allocscoped"
install -m 0755 "$cli" "$dest/usr/local/bin/allocscope"
for b in "$daemon" "$cli"; do
	# "libx.so => /path (addr)" and the loader's own "/lib64/ld-linux-x86-64.so.2 (addr)".
	ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
done | sort -u | while read -r lib; do
	copy "$lib"
done
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
	copy /etc/ssl/certs/ca-certificates.crt
fi
