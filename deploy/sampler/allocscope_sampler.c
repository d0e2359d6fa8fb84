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
 * Each call goes to the allocator the program would have had without this library: the next
 * definition of malloc after ours (glibc's, or jemalloc's, tcmalloc's... when one is linked),
 * whole family from that same object. The library adds no header to blocks and changes no
 * address, alignment or usable size.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
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

static int libc_posix_memalign(void **out, size_t align, size_t size)
{
	void *p = __libc_memalign(align, size);

	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

/* The allocator calls go to: found at the first call (resolve). */
static struct {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
} next;
static _Atomic int resolved; /* 0: not yet, 1: under way, 2: done */

/* What is allocated while the entry points are looked up (dlsym's own state): a bump buffer,
 * never freed. */
static _Alignas(16) char boot[16384];
static size_t boot_used;

static void *boot_alloc(size_t size)
{
	void *p;

	size = (size + 15) & ~(size_t)15;
	if (size > sizeof(boot) - boot_used)
		return NULL;
	p = boot + boot_used;
	boot_used += size;
	return p;
}

static int in_boot(const void *p)
{
	return (const char *)p >= boot && (const char *)p < boot + sizeof(boot);
}

/* The object a function is defined in; NULL when it is not known. */
static const char *object_of(void *fn)
{
	Dl_info info;

	return fn && dladdr(fn, &info) ? info.dli_fname : NULL;
}

static void *same_object(const char *name, const char *obj)
{
	void *fn = dlsym(RTLD_NEXT, name);
	const char *o = object_of(fn);

	return fn && o && obj && !strcmp(o, obj) ? fn : NULL;
}

/*
 * Find the next allocator's entry points: false while that is under way (a call from dlsym
 * itself, served from the boot buffer). Every entry point must come from the object that
 * defines malloc, or blocks would cross heaps; where one does not, glibc's whole family is used.
 */
static int resolve(void)
{
	int expect = 0;
	const char *obj;

	if (atomic_load_explicit(&resolved, memory_order_acquire) == 2)
		return 1;
	if (!atomic_compare_exchange_strong(&resolved, &expect, 1))
		return 0;
	next.malloc = dlsym(RTLD_NEXT, "malloc");
	obj = object_of((void *)next.malloc);
	next.free = same_object("free", obj);
	next.calloc = same_object("calloc", obj);
	next.realloc = same_object("realloc", obj);
	next.posix_memalign = same_object("posix_memalign", obj);
	if (!next.malloc || !next.free || !next.calloc || !next.realloc || !next.posix_memalign) {
		next.malloc = __libc_malloc;
		next.free = __libc_free;
		next.calloc = __libc_calloc;
		next.realloc = __libc_realloc;
		next.posix_memalign = libc_posix_memalign;
	}
	atomic_store_explicit(&resolved, 2, memory_order_release);
	return 1;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

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

/* The bytes to the next sample point (rate above 1: sample() never draws at 1). */
static double draw(void)
{
	double u;

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
	if (!resolve())
		return boot_alloc(size);
	return allocscope_sampler_alloc(next.malloc(size), size);
}

EXPORT void free(void *p)
{
	if (!p || in_boot(p))
		return;
	if (!resolve())
		return; /* cannot happen: a block to free was allocated after the lookup */
	retire(p);
	next.free(p);
}

EXPORT void *calloc(size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (!resolve())
		return boot_alloc(total); /* zeroed: static, never reused */
	return allocscope_sampler_alloc(next.calloc(n, size), total);
}

/* A realloc is the free of the old block and the allocation of the new, as heap profilers
 * count it. */
EXPORT void *realloc(void *p, size_t size)
{
	void *n;

	if (!p)
		return malloc(size);
	if (!size) {
		free(p);
		return NULL;
	}
	if (in_boot(p)) {
		/* A block of the lookup's: moved out, as much of it as the buffer holds. */
		n = malloc(size);
		if (n)
			memcpy(n, p, min_size(size, (size_t)(boot + sizeof(boot) - (char *)p)));
		return n;
	}
	if (!resolve())
		return NULL;
	/* Reported before the move: once realloc returns, another thread may get the address. */
	retire(p);
	n = next.realloc(p, size);
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

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	void *p = NULL;
	int err;

	if (!align || align % sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	if (!resolve()) {
		/* The boot buffer's blocks are 16-byte aligned. */
		p = align <= 16 ? boot_alloc(size) : NULL;
		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	err = next.posix_memalign(&p, align, size);
	if (err)
		return err;
	*out = allocscope_sampler_alloc(p, size);
	return 0;
}

/* The other aligned entry points, through posix_memalign of the same allocator: alignment
 * rounded up to a power of two of at least a pointer, as glibc's memalign does. Named for the
 * built-in wrapper list too. */
__attribute__((noinline)) static void *allocscope_sampler_aligned(size_t align, size_t size)
{
	size_t a = sizeof(void *);
	void *p;
	int err;

	while (a < align && a)
		a <<= 1;
	if (!a) {
		errno = EINVAL;
		return NULL;
	}
	err = posix_memalign(&p, a, size);
	if (err) {
		errno = err;
		return NULL;
	}
	return p;
}

EXPORT void *memalign(size_t align, size_t size)
{
	return allocscope_sampler_aligned(align, size);
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	return allocscope_sampler_aligned(align, size);
}

EXPORT void *valloc(size_t size)
{
	return allocscope_sampler_aligned((size_t)sysconf(_SC_PAGESIZE), size);
}

EXPORT void *pvalloc(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (size > SIZE_MAX - page) {
		errno = ENOMEM;
		return NULL;
	}
	return allocscope_sampler_aligned(page, (size + page - 1) & ~(page - 1));
}
