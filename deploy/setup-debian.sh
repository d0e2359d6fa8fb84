#!/usr/bin/env bash
# Installs, from Debian 12's packages, everything allocscope needs to build and to run its tests,
# the fuzzers' runtime (libclang-rt-14-dev: libFuzzer and the sanitizers for clang), and the peers
# its benchmarks compare with (bpftrace, heaptrack, valgrind) and their load (wrk), and the
# allocators whose entry points the e2e tests probe (jemalloc, mimalloc, tcmalloc).
set -euo pipefail

packages=(
	make gcc clang llvm libbpf-dev bpftool linux-libc-dev
	libelf-dev libdw-dev libcapstone-dev
	protobuf-c-compiler libprotobuf-c-dev zlib1g-dev
	libmicrohttpd-dev libjson-c-dev pkg-config
	golang-go python3 python3-yaml util-linux g++ binutils
	strace systemd prometheus libcurl4-openssl-dev tmux groff-base
	libclang-rt-14-dev
	bpftrace heaptrack valgrind wrk
	libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
