// SPDX-License-Identifier: MIT
/*
 * liballocscope_sampler.so: an allocation sampler for native programs, loaded with LD_PRELOAD
 * (so it needs the program restarted, and is never loaded by allocscope itself). It samples the
 * malloc family by bytes in the process, as Go's runtime and jemalloc's profiler do, and reports
 * each sample through the OpenTelemetry memory USDTs (opentelemetry-ebpf-profiler design 00003):
 *
 *   otel_memory:alloc(ptr, size, weight)  a sampled block; weight: the bytes it stands for
 *   otel_memory:free(ptr)                 the free of a sampled block, before the block is freed
 *
 * A USDT is a nop until a tracer attaches: allocscope (`--mode auto`) then traps once per sample
 * and once per free of a sampled block, not on every call. Unsampled calls cost a counter
 * decrement and, for free, one load from a table of counters.
 *
 * ALLOCSCOPE_SAMPLER_RATE: the mean bytes between samples (default 524288; 1 samples every
 * allocation with a weight of its size: exact counts). Sampling is Poisson by bytes: a block of
 * s bytes holds k sample points, each exponentially spaced, and weighs k * rate.
 *
 * The calls are passed to glibc's own allocator (__libc_malloc and its kin), so the library
 * adds no header to blocks and changes no address, alignment or usable size.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/sdt.h>

#define EXPORT __attribute__((visibility("default")))

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void __libc_free(void *p);
void *__libc_memalign(size_t align, size_t size);
void *__libc_valloc(size_t size);
void *__libc_pvalloc(size_t size);

#define DEFAULT_RATE 524288.0

static double rate = DEFAULT_RATE;

/* Per thread: bytes left to the next sample point, and the generator that spaces them. */
#define TLS __thread __attribute__((tls_model("initial-exec"))) /* no __tls_get_addr in malloc */
static TLS double to_next = -1;					/* < 0: not drawn yet */
static TLS uint64_t rng;

/*
 * Sampled blocks. A count per hash slot tells free whether its address can be a sampled block
 * (almost always not: one load); the exact set, under a mutex, is only touched for samples,
 * their frees, and the rare unsampled address whose slot is taken.
 */
#define SLOTS (1u << 16)
static _Atomic uint32_t slot_cnt[SLOTS];
static pthread_mutex_t set_mu = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t *set; /* open addressing, 0 empty, 1 deleted */
static size_t set_cap, set_used, set_dead;

static uint32_t slot_of(uintptr_t p)
{
	return (uint32_t)((p >> 4) * 0x9e3779b97f4a7c15ULL >> 48);
}

static double draw(void)
{
	double u;

	if (rate <= 1)
		return 1;
	if (!rng)
		rng = ((uint64_t)(uintptr_t)&rng * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)getpid() ^ 1;
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	u = (double)(rng >> 11) * (1.0 / 9007199254740992.0);
	return -log1p(-u) * rate;
}

/* The weight of a block of size bytes: 0 when it holds no sample point. */
static uint64_t sample(size_t size)
{
	uint64_t k = 0;

	if (rate <= 1)
		return size ? size : 1;
	if (to_next < 0)
		to_next = draw();
	to_next -= (double)size;
	while (to_next < 0) {
		k++;
		to_next += draw();
	}
	return k * (uint64_t)rate;
}

static size_t set_find(uintptr_t p, int for_insert)
{
	size_t mask = set_cap - 1, i = (size_t)((p >> 4) * 0xff51afd7ed558ccdULL) & mask;

	while (set[i] && (for_insert ? set[i] != 1 : set[i] != p))
		i = (i + 1) & mask;
	return i;
}

/* With set_mu held: make room for one more; false when there is no memory for it. */
static int set_grow(void)
{
	uintptr_t *old = set;
	size_t cap = set_cap, n = 1024;

	if (set && (set_used + set_dead + 1) * 2 <= set_cap)
		return 1;
	while (n < (set_used + 1) * 4)
		n *= 2;
	set = __libc_calloc(n, sizeof(*set));
	if (!set) {
		set = old;
		return 0;
	}
	set_cap = n;
	set_dead = 0;
	for (size_t i = 0; i < cap; i++)
		if (old[i] > 1)
			set[set_find(old[i], 1)] = old[i];
	__libc_free(old);
	return 1;
}

/* Named for allocscope's built-in wrapper list (daemon/profile/wrappers.c): a sample's site is
 * the code that called the allocator, not this. Kept a frame of its own, with a frame pointer. */
__attribute__((noinline)) static void *allocscope_sampler_alloc(void *p, size_t size)
{
	uint64_t weight;

	if (!p)
		return p;
	weight = sample(size);
	if (!weight)
		return p;
	pthread_mutex_lock(&set_mu);
	if (!set_grow()) {
		pthread_mutex_unlock(&set_mu);
		return p; /* no memory to remember it: not reported */
	}
	set[set_find((uintptr_t)p, 1)] = (uintptr_t)p;
	set_used++;
	atomic_fetch_add_explicit(&slot_cnt[slot_of((uintptr_t)p)], 1, memory_order_relaxed);
	pthread_mutex_unlock(&set_mu);
	DTRACE_PROBE3(otel_memory, alloc, p, size, weight);
	return p;
}

/* Before p is freed (or moved by realloc): report it if it is a sampled block. */
static void retire(void *p)
{
	uintptr_t a = (uintptr_t)p;
	size_t i;
	int was = 0;

	if (!p || !atomic_load_explicit(&slot_cnt[slot_of(a)], memory_order_relaxed))
		return;
	pthread_mutex_lock(&set_mu);
	if (set) {
		i = set_find(a, 0);
		if (set[i] == a) {
			set[i] = 1;
			set_used--;
			set_dead++;
			atomic_fetch_sub_explicit(&slot_cnt[slot_of(a)], 1, memory_order_relaxed);
			was = 1;
		}
	}
	pthread_mutex_unlock(&set_mu);
	if (was)
		DTRACE_PROBE1(otel_memory, free, p);
}

static void child_after_fork(void)
{
	pthread_mutex_init(&set_mu, NULL);
}

__attribute__((constructor)) static void init(void)
{
	const char *v = getenv("ALLOCSCOPE_SAMPLER_RATE");
	char *end;
	double r;

	if (v && *v) {
		r = strtod(v, &end);
		if (*end == '\0' && r >= 1 && r <= 1e12)
			rate = r;
	}
	pthread_atfork(NULL, NULL, child_after_fork);
}

EXPORT void *malloc(size_t size)
{
	return allocscope_sampler_alloc(__libc_malloc(size), size);
}

EXPORT void free(void *p)
{
	retire(p);
	__libc_free(p);
}

EXPORT void *calloc(size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return allocscope_sampler_alloc(__libc_calloc(n, size), total);
}

/* A realloc is the free of the old block and the allocation of the new, as heap profilers
 * count it. A failed realloc leaves the old block, and its sample, as they were. */
EXPORT void *realloc(void *p, size_t size)
{
	void *n;

	if (!p)
		return malloc(size);
	if (!size) {
		free(p);
		return NULL;
	}
	/* Reported before the move: once realloc returns, another thread may get the address. */
	retire(p);
	n = __libc_realloc(p, size);
	if (!n) {
		/* The old block lives on, unreported from now: a sample missed, never a false one.
		 */
		return NULL;
	}
	return allocscope_sampler_alloc(n, size);
}

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, total);
}

EXPORT void *memalign(size_t align, size_t size)
{
	return allocscope_sampler_alloc(__libc_memalign(align, size), size);
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	return allocscope_sampler_alloc(__libc_memalign(align, size), size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (!align || align % sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = allocscope_sampler_alloc(p, size);
	return 0;
}

EXPORT void *valloc(size_t size)
{
	return allocscope_sampler_alloc(__libc_valloc(size), size);
}

EXPORT void *pvalloc(size_t size)
{
	return allocscope_sampler_alloc(__libc_pvalloc(size), size);
}
