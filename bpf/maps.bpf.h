/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: the counters of what the BPF side could not do, and the lookup-or-init of a hash
 * map's entry that every aggregating helper does. Expects the including file to define
 * `counters` (__u64[ALLOC_CNT_MAX]). */
#ifndef ALLOCSCOPE_MAPS_BPF_H
#define ALLOCSCOPE_MAPS_BPF_H

static __always_inline void count(enum alloc_counter c)
{
	if (c < ALLOC_CNT_MAX)
		__sync_fetch_and_add(&counters[c], 1);
}

/*
 * The value of key in a hash map, inserted as *init when absent; NULL when the map is full. The
 * insert is BPF_NOEXIST and the second lookup takes whichever value won a race with another CPU.
 * Always inlined: the verifier needs map to be a known map at each call site.
 */
static __always_inline void *map_lookup_or_init(void *map, const void *key, const void *init)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

#endif
