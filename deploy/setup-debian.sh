#!/usr/bin/env bash
# Installs, from Debian 12's packages, everything allocscope needs to build and to run its tests,
# the fuzzers' runtime (libclang-rt-14-dev: libFuzzer and the sanitizers for clang), and the peers
# its benchmarks compare with (bpftrace, heaptrack, valgrind) and their load (wrk), and the
# container tools of `make image` and `make test-containers` (podman with runc, debootstrap).
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
	golang-go python3 python3-yaml util-linux g++ binutils
	strace systemd prometheus libcurl4-openssl-dev tmux groff-base
	libclang-rt-14-dev
	podman runc containernetworking-plugins debootstrap
	bpftrace heaptrack valgrind wrk
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
