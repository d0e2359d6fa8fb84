#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Prints KEEP (one byte, as a number) followed by LEN bytes of ELF at virtual address VADDR
# (hex), translated to a file offset through the PT_LOAD headers: a probe_place fuzzer seed.
#   tests/fuzz/func_bytes.sh ELF VADDR KEEP LEN > seed
set -eu
elf=$1 vaddr=$((16#${2#0x})) keep=$3 len=$4
off=
while read -r type o v _ fs _; do
	[ "$type" = LOAD ] || continue
	if ((vaddr >= v && vaddr < v + fs)); then
		off=$((vaddr - v + o))
		break
	fi
done < <(readelf -lW "$elf")
test -n "$off"
printf "\\$(printf '%03o' "$keep")"
tail -c +$((off + 1)) "$elf" | head -c "$len"
