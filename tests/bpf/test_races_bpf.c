// SPDX-License-Identifier: MIT
/* The BPF layer under concurrency: the daemon's stack garbage collection racing samples from
 * several threads, and a realloc racing a malloc of the same size class in another thread (a
 * child process on one arena without thread caches). Needs root. */
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "probe/collect.h"
#include "tests/bpf/bpf_test.h"

/* ---- stack garbage collection racing samples ---- */

#define GC_THREADS 3
#define GC_DEPTHS  12
#define GC_KEEP	   8

/* depth + 1 frames of it over malloc: a stack per depth. The empty asm after each call keeps
 * it a call (not a jump), so that every level keeps its frame. */
WRAPPER(gc_recurse) void *gc_recurse(int depth, size_t size)
{
	void *p = depth ? gc_recurse(depth - 1, size) : malloc(size);

	asm volatile("" : "+r"(p));
	return p;
}

static size_t gc_size(int depth)
{
	return 1000 + 8 * depth;
}

struct gc_worker {
	pthread_t thread;
	volatile int *stop;
	void *held[GC_KEEP];
};

static void *gc_work(void *arg)
{
	struct gc_worker *w = arg;
	unsigned int n = 0;

	while (!*w->stop) {
		int depth = n % GC_DEPTHS, slot = n % GC_KEEP;

		free(w->held[slot]);
		w->held[slot] = gc_recurse(depth, gc_size(depth));
		n++;
	}
	return NULL;
}

/* Delete every key of this process in map fd (what collect__forget_pid does to a dead one). */
static void forget_keys(int fd, size_t key_size, size_t tgid_off)
{
	__u8 key[64], next[64], *prev = NULL;
	__u8 doomed[4096][64];
	int n = 0;

	while (n < 4096 && !bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		if (*(__u32 *)(key + tgid_off) == (__u32)getpid())
			memcpy(doomed[n++], key, key_size);
	}
	for (int i = 0; i < n; i++)
		bpf_map_delete_elem(fd, doomed[i]);
}

/* gc_recurse frames on stack id's stack; -1 when the id holds no stack. */
static int gc_depth_of(const struct fixture *f, __s32 id)
{
	struct range r = RANGE(gc_recurse);
	struct stack_val sv;
	int nr = stack_of(f, id, &sv), d = 0;

	if (!nr)
		return -1;
	for (int i = 0; i < nr; i++)
		d += in_range(r, sv.ips[i]);
	return d;
}

/*
 * Threads keep taking the same few stacks while the main thread forgets the process's stats and
 * live blocks and garbage-collects the stacks, over and over, as the daemon does for processes
 * that exit: a stack unreferenced when the collection reads the stats is taken again meanwhile.
 * Afterwards every stats entry's stack must be there, every live block's stack must be the one
 * it was allocated from (its size tells the depth), and no stack may sit under two ids.
 */
TEST(bpf_stack_gc_races_samples)
{
	struct gc_worker w[GC_THREADS] = {};
	struct stack_cache *cache = NULL;
	volatile int stop = 0;
	struct alloc_key k, *prevk = NULL;
	__u32 id, *previd = NULL;
	__u64 c[ALLOC_CNT_MAX], hashes[1024];
	int rounds = 0, deleted = 0, started = 0, nh = 0;
	struct fixture f;
	__u64 t_end;

	if (!fixture_open(&f, 0))
		return;
	cache = stack_cache__new();
	if (!ASSERT_OK_PTR(cache, "stack cache"))
		goto cleanup;
	for (int i = 0; i < GC_THREADS; i++) {
		w[i].stop = &stop;
		if (!ASSERT_OK(pthread_create(&w[i].thread, NULL, gc_work, &w[i]), "thread"))
			goto join;
		started++;
	}
	t_end = now_ms() + 2000;
	while (now_ms() < t_end) {
		int n;

		forget_keys(f.stats_fd, sizeof(struct alloc_key), offsetof(struct alloc_key, tgid));
		forget_keys(f.live_fd, sizeof(struct live_key), offsetof(struct live_key, tgid));
		n = collect__gc_stacks(f.ap, cache);
		if (!ASSERT_TRUE(n >= 0, "gc"))
			break;
		deleted += n;
		rounds++;
	}
join:
	stop = 1;
	for (int i = 0; i < started; i++)
		pthread_join(w[i].thread, NULL);
	ASSERT_TRUE(rounds > 10 && deleted > 0, "collections ran and deleted stacks");
	fprintf(stderr, "    %d collections, %d stacks deleted\n", rounds, deleted);
	while (!bpf_map_get_next_key(f.stats_fd, prevk, &k)) {
		prevk = &k;
		if (k.tgid == (__u32)getpid() && k.stack_id >= 0)
			ASSERT_TRUE(gc_depth_of(&f, k.stack_id) >= 0,
				    "a stats entry's stack is there");
	}
	for (int i = 0; i < started; i++) {
		for (int j = 0; j < GC_KEEP; j++) {
			struct live_val lv;

			if (!w[i].held[j] || !live_of(&f, w[i].held[j], &lv))
				continue; /* allocated before the last forget */
			ASSERT_EQ(gc_depth_of(&f, lv.key.stack_id), (int)(lv.size - 1000) / 8 + 1,
				  "a live block's stack is its own");
		}
	}
	while (!bpf_map_get_next_key(f.stacks_fd, previd, &id)) {
		struct stack_val sv;

		previd = &id;
		if (bpf_map_lookup_elem(f.stacks_fd, &id, &sv) || nh == 1024)
			continue;
		for (int i = 0; i < nh; i++)
			ASSERT_TRUE(hashes[i] != sv.hash, "one id per stack");
		hashes[nh++] = sv.hash;
	}
	alloc_probes__counters(f.ap, c);
	ASSERT_EQ(c[ALLOC_CNT_STACK_LOST], 0, "stacks lost");
	fprintf(stderr, "    %llu stacks repaired by the BPF side\n",
		(unsigned long long)c[ALLOC_CNT_STACK_REPAIRED]);
	for (int i = 0; i < started; i++)
		for (int j = 0; j < GC_KEEP; j++)
			free(w[i].held[j]);
cleanup:
	stack_cache__free(cache);
	fixture_close(&f);
}

/* ---- realloc racing a malloc of the same size class in another thread ---- */

struct child {
	pid_t pid;
	FILE *in, *out;
};

/* Start tests/targets/NAME next to this binary with env, stdin and stdout piped. */
static bool child_start(struct child *c, const char *name, const char *env)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	int to[2], from[2];
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return false;
	self[n] = 0;
	snprintf(path, sizeof(path), "%s/targets/%s", dirname(self), name);
	if (access(path, X_OK)) {
		test__skip("build the test targets first (make test-targets)");
		return false;
	}
	if (pipe(to) || pipe(from))
		return false;
	c->pid = fork();
	if (c->pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		putenv((char *)env);
		execl(path, name, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	c->in = fdopen(to[1], "w");
	c->out = fdopen(from[0], "r");
	return c->pid > 0 && c->in && c->out;
}

/* Read the child's lines until one starts with want. */
static bool child_wait(struct child *c, const char *want)
{
	char line[128];

	while (fgets(line, sizeof(line), c->out))
		if (!strncmp(line, want, strlen(want)))
			return true;
	return false;
}

static void child_go(struct child *c)
{
	fputs("go\n", c->in);
	fflush(c->in);
}

/*
 * A realloc that moves a block frees the old one inside glibc, before its return probe fires; a
 * malloc in another thread can be given that address meanwhile. The old block is retired at the
 * realloc's entry, so the other thread's block must stay tracked: at rate 1 every block the
 * threads hold at the end must be live with its size.
 */
TEST(bpf_realloc_never_retires_another_threads_block)
{
	struct alloc_probes_opts ao = {.sample_rate = 1};
	struct symbolizer_opts so = {};
	struct symbolizer *sym = NULL;
	struct alloc_probes *ap = NULL;
	struct child c = {.pid = -1};
	__u64 cnt[ALLOC_CNT_MAX];
	int held = 0, missing = 0, wrong = 0, status;
	char line[128];
	Dl_info alloc;

	if (geteuid() != 0) {
		test__skip("needs root to load BPF programs");
		return;
	}
#ifdef BPF_TEST_UNDER_ASAN
	test__skip("under ASan, malloc here is not the child's libc malloc");
	return;
#endif
	if (!ASSERT_TRUE(dladdr((void *)malloc, &alloc) && alloc.dli_fname, "libc's path"))
		return;
	if (!child_start(&c, "realloc_race",
			 "GLIBC_TUNABLES=glibc.malloc.tcache_count=0:glibc.malloc.arena_max=1"))
		goto cleanup;
	if (!ASSERT_TRUE(child_wait(&c, "ready"), "child ready"))
		goto cleanup;
	sym = symbolizer__new(&so);
	ap = alloc_probes__new(&ao);
	if (!ASSERT_OK_PTR(sym, "symbolizer") || !ASSERT_OK_PTR(ap, "load"))
		goto cleanup;
	if (!ASSERT_TRUE(alloc_probes__attach_object(ap, sym, c.pid, alloc.dli_fname) >= 6,
			 "child's libc probed"))
		goto cleanup;
	child_go(&c);
	while (fgets(line, sizeof(line), c.out) && strncmp(line, "done", 4)) {
		struct live_key k = {.tgid = c.pid};
		struct live_val lv;
		unsigned long long addr;
		char who;

		if (sscanf(line, "%c %llx", &who, &addr) != 2 || !addr)
			continue;
		held++;
		k.addr = addr;
		if (bpf_map_lookup_elem(alloc_probes__live_fd(ap), &k, &lv))
			missing++;
		else if (lv.size != (who == 'A' ? 1000u : 48u))
			wrong++;
	}
	ASSERT_EQ(held, 128, "blocks held at the end");
	ASSERT_EQ(missing, 0, "held blocks missing from the live map");
	ASSERT_EQ(wrong, 0, "held blocks with another's size");
	alloc_probes__counters(ap, cnt);
	ASSERT_EQ(cnt[ALLOC_CNT_LIVE_OVERWRITE], 0, "no block found over another");
	ASSERT_EQ(cnt[ALLOC_CNT_LIVE_FULL], 0, "live map not full");
cleanup:
	if (c.in)
		child_go(&c);
	if (c.pid > 0) {
		if (c.in)
			fclose(c.in);
		waitpid(c.pid, &status, 0);
	}
	if (c.out)
		fclose(c.out);
	if (ap)
		alloc_probes__detach_pid(ap, c.pid, 1);
	alloc_probes__free(ap);
	symbolizer__free(sym);
}
