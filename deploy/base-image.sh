#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The base image deploy/Containerfile builds FROM (debian:bookworm), made from Debian's own
# packages where no container registry can be reached: debootstrap's minbase of bookworm,
# imported under that name. The tarball is cached (ALLOCSCOPE_IMAGE_CACHE, default
# /var/cache/allocscope), so only the first run pays for debootstrap (~40 s here).
#   deploy/base-image.sh ENGINE        ENGINE: podman or docker
set -euo pipefail
engine=$1
cache=${ALLOCSCOPE_IMAGE_CACHE:-/var/cache/allocscope}
tarball=$cache/bookworm-minbase.tar
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if "$engine" image inspect debian:bookworm >/dev/null 2>&1; then
	exit 0
fi
# A registry, where there is one, gives the official image.
if timeout 60 "$engine" pull -q docker.io/library/debian:bookworm >/dev/null 2>&1; then
	exit 0
fi
if [ ! -s "$tarball" ]; then
	command -v debootstrap >/dev/null || {
		echo "base-image: debootstrap is missing (deploy/setup-debian.sh installs it)" >&2
		exit 1
	}
	mkdir -p "$cache"
	root=$(mktemp -d "$cache/bookworm.XXXXXX")
	trap 'rm -rf "$root"' EXIT
	echo "base-image: debootstrap --variant=minbase bookworm (once; cached in $cache)"
	debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
	# apt inside the image reaches the same mirror.
	echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
	tar -C "$root" -c . >"$tarball.tmp"
	mv "$tarball.tmp" "$tarball"
fi
"$engine" import -q "$tarball" debian:bookworm >/dev/null
echo "base-image: imported debian:bookworm from $tarball"
