// SPDX-License-Identifier: MIT
/* Tests of the pprof builder and decoder: what go tool pprof reads back from our files, a
 * round trip through our own decoder, interning, and malformed input. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "profile.pb-c.h"

#include "util/common.h"
#include "util/log.h"
#include "profile/pprof.h"
#include "profile/pprof_decode.h"
#include "test.h"

#define MiB (1024 * 1024)

static const struct pprof_value_type heap_types[] = {
    {"alloc_objects", "count"},
    {"alloc_space", "bytes"},
    {"inuse_objects", "count"},
    {"inuse_space", "bytes"},
};

#define T_TIME_NS	1700000000123456789LL
#define T_DURATION_NS	30000000000LL
#define T_APP_BUILD_ID	"4f1c2a9e8d7b6c5a4f1c2a9e8d7b6c5a4f1c2a9e"
#define T_LIBC_BUILD_ID "0b1d2e3f405162738495a6b7c8d9eaf00112233"

/* The ids pprof__add_* hand out for the fixed profile below, in order of creation. */
struct heap_ids {
	long app, libc;
	long loc_grow, loc_main, loc_parse, loc_malloc;
};

/* A Go-style heap profile with three stacks whose alloc_space and inuse_space orderings differ:
 *   alloc_space: grow_slice (3 MiB) > parse_config (1 MiB) > malloc (64 KiB)
 *   inuse_space: parse_config (1 MiB) > grow_slice (512 KiB) > malloc (0)
 * grow_slice is inlined into append_item, so its location has two lines. */
static struct pprof_builder *build_heap_profile(const char *default_type, struct heap_ids *ids)
{
	struct pprof_opts opts = {
	    .sample_types = heap_types,
	    .sample_type_cnt = ARRAY_SIZE(heap_types),
	    .period_type = {"space", "bytes"},
	    .period = 524288,
	    .default_sample_type = default_type,
	    .time_nanos = T_TIME_NS,
	    .duration_nanos = T_DURATION_NS,
	};
	struct pprof_mapping_desc app = {
	    .memory_start = 0x400000,
	    .memory_limit = 0x500000,
	    .file_offset = 0,
	    .filename = "/usr/bin/app",
	    .build_id = T_APP_BUILD_ID,
	    .has_functions = 1,
	    .has_filenames = 1,
	    .has_line_numbers = 1,
	    .has_inline_frames = 1,
	};
	struct pprof_mapping_desc libc = {
	    .memory_start = 0x7f0000000000ULL,
	    .memory_limit = 0x7f0000200000ULL,
	    .file_offset = 0x28000,
	    .filename = "/usr/lib/x86_64-linux-gnu/libc.so.6",
	    .build_id = T_LIBC_BUILD_ID,
	    .has_functions = 1,
	};
	const struct pprof_line grow[] = {
	    {"grow_slice", NULL, "src/slice.c", 42},
	    {"append_item", NULL, "src/slice.c", 57},
	};
	const struct pprof_line mainf[] = {{"main", NULL, "src/main.c", 80}};
	const struct pprof_line parse[] = {{"parse_config", NULL, "src/config.c", 12}};
	const struct pprof_line mall[] = {{"malloc", "__libc_malloc", "malloc.c", 3287}};
	struct pprof_label l1[] = {
	    {.key = "cause", .str = "slice-growth"},
	    {.key = "bytes", .num = 524288, .num_unit = "bytes"},
	};
	struct pprof_label l2[] = {
	    {.key = "cause", .str = "config"},
	    {.key = "tid", .num = 4242},
	};
	const __s64 v1[] = {6, 3 * MiB, 1, MiB / 2};
	const __s64 v2[] = {256, MiB, 256, MiB};
	const __s64 v3[] = {16, 65536, 0, 0};
	struct pprof_builder *b;
	struct heap_ids id;
	int err = 0;

	b = pprof__new(&opts);
	if (!ASSERT_OK_PTR(b, "pprof__new"))
		return NULL;
	id.app = pprof__add_mapping(b, &app);
	id.libc = pprof__add_mapping(b, &libc);
	id.loc_grow = pprof__add_location(b, id.app, 0x401234, grow, ARRAY_SIZE(grow));
	id.loc_main = pprof__add_location(b, id.app, 0x402000, mainf, ARRAY_SIZE(mainf));
	id.loc_parse = pprof__add_location(b, id.app, 0x403010, parse, ARRAY_SIZE(parse));
	id.loc_malloc = pprof__add_location(b, id.libc, 0x7f0000031000ULL, mall, ARRAY_SIZE(mall));
	if (!ASSERT_EQ(id.app, 1, "app mapping id") || !ASSERT_EQ(id.libc, 2, "libc mapping id") ||
	    !ASSERT_EQ(id.loc_grow, 1, "grow location id") ||
	    !ASSERT_EQ(id.loc_main, 2, "main location id") ||
	    !ASSERT_EQ(id.loc_parse, 3, "parse location id") ||
	    !ASSERT_EQ(id.loc_malloc, 4, "malloc location id"))
		goto fail;

	{
		const __u64 s1[] = {id.loc_grow, id.loc_main};
		const __u64 s2[] = {id.loc_parse, id.loc_main};
		const __u64 s3[] = {id.loc_malloc, id.loc_parse, id.loc_main};

		err = pprof__add_sample(b, s1, ARRAY_SIZE(s1), v1, l1, ARRAY_SIZE(l1));
		if (!err)
			err = pprof__add_sample(b, s2, ARRAY_SIZE(s2), v2, l2, ARRAY_SIZE(l2));
		if (!err)
			err = pprof__add_sample(b, s3, ARRAY_SIZE(s3), v3, NULL, 0);
	}
	if (!err)
		err = pprof__add_comment(b, "allocscope unit test");
	if (!err)
		err = pprof__add_comment(b, "dropped_samples=0");
	if (!ASSERT_OK(err, "fill profile"))
		goto fail;
	if (ids)
		*ids = id;
	return b;

fail:
	pprof__free(b);
	return NULL;
}

static bool have_go(void)
{
	return system("command -v go >/dev/null 2>&1") == 0;
}

/* Runs `go tool pprof ARGS FILE` and returns its output (stdout and stderr) or NULL. */
static char *run_pprof(const char *args, const char *file)
{
	char cmd[1024], *out = NULL, *p;
	size_t len = 0, cap = 0;
	FILE *f = NULL;
	size_t n;
	int status;

	snprintf(cmd, sizeof(cmd), "go tool pprof %s '%s' 2>&1", args, file);
	f = popen(cmd, "r");
	if (!ASSERT_OK_PTR(f, "popen go tool pprof"))
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 16384;
			p = realloc(out, cap);
			if (!p)
				break;
			out = p;
		}
		n = fread(out + len, 1, cap - len - 1, f);
		if (!n)
			break;
		len += n;
	}
	status = pclose(f);
	if (out)
		out[len] = '\0';
	if (!ASSERT_TRUE(out && WIFEXITED(status) && WEXITSTATUS(status) == 0, cmd)) {
		if (out)
			fprintf(stderr, "%s\n", out);
		free(out);
		return NULL;
	}
	return out;
}

static bool assert_contains(const char *hay, const char *needle, const char *what)
{
	if (strstr(hay, needle))
		return true;
	fprintf(stderr, "---- output ----\n%s----------------\n", hay);
	return test__fail(__FILE__, __LINE__, "%s: output lacks \"%s\"", what, needle);
}

/* Whether a appears in hay before b, both present. */
static bool assert_before(const char *hay, const char *a, const char *b, const char *what)
{
	const char *pa = strstr(hay, a), *pb = strstr(hay, b);

	if (pa && pb && pa < pb)
		return true;
	fprintf(stderr, "---- output ----\n%s----------------\n", hay);
	return test__fail(__FILE__, __LINE__, "%s: \"%s\" not before \"%s\"", what, a, b);
}

/* Whether the -top row of function fn starts with the flat value flat. */
static bool assert_flat(const char *hay, const char *fn, const char *flat, const char *what)
{
	const char *row = strstr(hay, fn), *start;

	if (row) {
		start = row;
		while (start > hay && start[-1] != '\n')
			start--;
		while (*start == ' ')
			start++;
		if (strncmp(start, flat, strlen(flat)) == 0 && start[strlen(flat)] == ' ')
			return true;
	}
	fprintf(stderr, "---- output ----\n%s----------------\n", hay);
	return test__fail(__FILE__, __LINE__, "%s: %s has no flat %s", what, fn, flat);
}

static char tmp_dir[64];

/* A fresh directory for the running test, or NULL after recording the failure. */
static const char *make_tmp_dir(void)
{
	strcpy(tmp_dir, "/tmp/allocscope-pprof-XXXXXX");
	if (mkdtemp(tmp_dir))
		return tmp_dir;
	test__fail(__FILE__, __LINE__, "mkdtemp %s: %s", tmp_dir, strerror(errno));
	return NULL;
}

static void remove_tmp_dir(const char *dir)
{
	char path[sizeof(tmp_dir) + sizeof(((struct dirent *)0)->d_name) + 1];
	struct dirent *de;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static int count_dir_entries(const char *dir)
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

TEST(pprof_go_tool_reads_heap_profile)
{
	struct pprof_builder *b = NULL;
	char path[128], line[256];
	const char *dir = NULL;
	char *out = NULL;

	if (!have_go()) {
		test__skip_dep("go is not installed (deploy/setup-debian.sh installs golang-go)");
		return;
	}
	dir = make_tmp_dir();
	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/heap.pb.gz", dir);
	b = build_heap_profile(NULL, NULL);
	if (!b)
		goto cleanup;
	if (!ASSERT_OK(pprof__write_file(b, path), "pprof__write_file"))
		goto cleanup;

	out = run_pprof("-raw", path);
	if (!out)
		goto cleanup;
	if (!assert_contains(out, "PeriodType: space bytes", "period type") ||
	    !assert_contains(out, "Period: 524288", "period") ||
	    !assert_contains(out, "Comment: allocscope unit test", "comment") ||
	    !assert_contains(out, "Comment: dropped_samples=0", "comment 2") ||
	    !assert_contains(out,
			     "alloc_objects/count alloc_space/bytes inuse_objects/count "
			     "inuse_space/bytes",
			     "sample types"))
		goto cleanup;
	/* Sample lines: each value in %10d, then the location ids, leaf first. */
	snprintf(line, sizeof(line), "%10d %10d %10d %10d: 1 2 ", 6, 3 * MiB, 1, MiB / 2);
	if (!assert_contains(out, line, "sample 1"))
		goto cleanup;
	snprintf(line, sizeof(line), "%10d %10d %10d %10d: 3 2 ", 256, MiB, 256, MiB);
	if (!assert_contains(out, line, "sample 2"))
		goto cleanup;
	snprintf(line, sizeof(line), "%10d %10d %10d %10d: 4 3 2 ", 16, 65536, 0, 0);
	if (!assert_contains(out, line, "sample 3") ||
	    !assert_contains(out, "cause:[slice-growth]", "string label") ||
	    !assert_contains(out, "cause:[config]", "string label 2") ||
	    !assert_contains(out, "Duration: 30s", "duration") ||
	    !assert_contains(out, "bytes:[524288 bytes]", "numeric label with unit") ||
	    !assert_contains(out, "tid:[4242]", "numeric label 2"))
		goto cleanup;
	/* Locations with their (inlined) lines, and mappings with file name and build id. */
	if (!assert_contains(out, "grow_slice src/slice.c:42", "inlined callee") ||
	    !assert_contains(out, "append_item src/slice.c:57", "inlining caller") ||
	    !assert_before(out, "grow_slice src/slice.c:42", "append_item src/slice.c:57",
			   "inline order") ||
	    !assert_contains(out, "malloc malloc.c:3287 s=0(__libc_malloc)", "system name") ||
	    !assert_contains(out, "0x401234 M=1", "location address") ||
	    !assert_contains(out, "0x7f0000031000 M=2", "libc location address") ||
	    !assert_contains(
		out, "1: 0x400000/0x500000/0x0 /usr/bin/app " T_APP_BUILD_ID " [FN][FL][LN][IN]",
		"app mapping") ||
	    !assert_contains(out,
			     "2: 0x7f0000000000/0x7f0000200000/0x28000 "
			     "/usr/lib/x86_64-linux-gnu/libc.so.6 " T_LIBC_BUILD_ID " [FN]\n",
			     "libc mapping"))
		goto cleanup;
	free(out);

	out = run_pprof("-top -sample_index=alloc_space", path);
	if (!out)
		goto cleanup;
	if (!assert_before(out, "grow_slice", "parse_config", "alloc_space order") ||
	    !assert_before(out, "parse_config", "malloc", "alloc_space order 2") ||
	    !assert_contains(out, "Type: alloc_space", "alloc_space selected") ||
	    !assert_contains(out, "4160kB total", "alloc_space total") ||
	    !assert_flat(out, "grow_slice (inline)", "3072kB", "grow_slice alloc_space") ||
	    !assert_flat(out, "parse_config", "1024kB", "parse_config alloc_space") ||
	    !assert_flat(out, "malloc", "64kB", "malloc alloc_space") ||
	    !assert_flat(out, "main", "0", "main alloc_space"))
		goto cleanup;
	free(out);

	/* With inuse_space the order changes; proves the index really selects the column. */
	out = run_pprof("-top -sample_index=inuse_space", path);
	if (!out)
		goto cleanup;
	if (!assert_before(out, "parse_config", "grow_slice", "inuse_space order") ||
	    !assert_contains(out, "1536kB total", "inuse_space total") ||
	    !assert_flat(out, "grow_slice (inline)", "512kB", "grow_slice inuse_space"))
		goto cleanup;

cleanup:
	free(out);
	pprof__free(b);
	if (dir)
		remove_tmp_dir(dir);
}

TEST(pprof_go_tool_default_sample_type)
{
	struct pprof_builder *b = NULL;
	const char *dir = NULL;
	char path[128];
	char *out = NULL;

	if (!have_go()) {
		test__skip_dep("go is not installed (deploy/setup-debian.sh installs golang-go)");
		return;
	}
	dir = make_tmp_dir();
	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/allocs.pb.gz", dir);
	b = build_heap_profile("alloc_objects", NULL);
	if (!b)
		goto cleanup;
	if (!ASSERT_OK(pprof__write_file(b, path), "pprof__write_file"))
		goto cleanup;
	/* No -sample_index: pprof must pick alloc_objects (parse_config: 256 + 16 objects). */
	out = run_pprof("-top", path);
	if (!out)
		goto cleanup;
	if (!assert_contains(out, "Type: alloc_objects", "default sample type") ||
	    !assert_before(out, "parse_config", "malloc", "alloc_objects order") ||
	    !assert_before(out, "malloc", "grow_slice", "alloc_objects order 2"))
		goto cleanup;

cleanup:
	free(out);
	pprof__free(b);
	if (dir)
		remove_tmp_dir(dir);
}

static const char *fn_name(const struct pprof_profile *p, __u64 function_id)
{
	const Perftools__Profiles__Function *f = pprof__profile_function(p, function_id);

	return f ? pprof__profile_str(p, f->name) : NULL;
}

TEST(pprof_round_trip)
{
	const Perftools__Profiles__Profile *m;
	const Perftools__Profiles__Location *loc;
	const Perftools__Profiles__Mapping *map;
	const Perftools__Profiles__Function *fn;
	const Perftools__Profiles__Sample *s;
	struct pprof_profile *p = NULL, *pf = NULL;
	struct pprof_builder *b = NULL;
	const char *dir = NULL;
	struct heap_ids ids;
	void *buf = NULL;
	char path[128];
	size_t len = 0, i;

	b = build_heap_profile("alloc_space", &ids);
	if (!b)
		return;
	if (!ASSERT_OK(pprof__encode(b, &buf, &len), "pprof__encode"))
		goto cleanup;
	if (!ASSERT_TRUE(len > 2 && ((unsigned char *)buf)[0] == 0x1f &&
			     ((unsigned char *)buf)[1] == 0x8b,
			 "gzip magic"))
		goto cleanup;
	p = pprof__decode(buf, len);
	if (!ASSERT_OK_PTR(p, "pprof__decode"))
		goto cleanup;
	m = pprof__profile_msg(p);

	if (!ASSERT_STREQ(m->string_table[0], "", "string_table[0]") ||
	    !ASSERT_EQ(m->n_sample_type, 4, "sample types"))
		goto cleanup;
	for (i = 0; i < ARRAY_SIZE(heap_types); i++) {
		if (!ASSERT_STREQ(pprof__profile_str(p, m->sample_type[i]->type),
				  heap_types[i].type, "sample type") ||
		    !ASSERT_STREQ(pprof__profile_str(p, m->sample_type[i]->unit),
				  heap_types[i].unit, "sample unit"))
			goto cleanup;
	}
	if (!ASSERT_OK_PTR(m->period_type, "period_type") ||
	    !ASSERT_STREQ(pprof__profile_str(p, m->period_type->type), "space", "period type") ||
	    !ASSERT_STREQ(pprof__profile_str(p, m->period_type->unit), "bytes", "period unit") ||
	    !ASSERT_EQ(m->period, 524288, "period") ||
	    !ASSERT_EQ(m->time_nanos, T_TIME_NS, "time_nanos") ||
	    !ASSERT_EQ(m->duration_nanos, T_DURATION_NS, "duration_nanos") ||
	    !ASSERT_STREQ(pprof__profile_str(p, m->default_sample_type), "alloc_space",
			  "default_sample_type") ||
	    !ASSERT_EQ(pprof__profile_sample_index(p, "inuse_space"), 3, "sample index") ||
	    !ASSERT_EQ(pprof__profile_sample_index(p, "nope"), -ENOENT, "missing sample index") ||
	    !ASSERT_EQ(m->n_comment, 2, "comments") ||
	    !ASSERT_STREQ(pprof__profile_str(p, m->comment[0]), "allocscope unit test",
			  "comment 0") ||
	    !ASSERT_STREQ(pprof__profile_str(p, m->comment[1]), "dropped_samples=0", "comment 1"))
		goto cleanup;

	/* Mappings. */
	if (!ASSERT_EQ(m->n_mapping, 2, "mappings"))
		goto cleanup;
	map = pprof__profile_mapping(p, ids.app);
	if (!ASSERT_OK_PTR(map, "app mapping") || !ASSERT_EQ(map->id, 1, "app id") ||
	    !ASSERT_EQ(map->memory_start, 0x400000, "app start") ||
	    !ASSERT_EQ(map->memory_limit, 0x500000, "app limit") ||
	    !ASSERT_EQ(map->file_offset, 0, "app offset") ||
	    !ASSERT_STREQ(pprof__profile_str(p, map->filename), "/usr/bin/app", "app file") ||
	    !ASSERT_STREQ(pprof__profile_str(p, map->build_id), T_APP_BUILD_ID, "app build id") ||
	    !ASSERT_TRUE(map->has_functions && map->has_filenames && map->has_line_numbers &&
			     map->has_inline_frames,
			 "app flags"))
		goto cleanup;
	map = pprof__profile_mapping(p, ids.libc);
	if (!ASSERT_OK_PTR(map, "libc mapping") ||
	    !ASSERT_EQ(map->memory_start, 0x7f0000000000ULL, "libc start") ||
	    !ASSERT_EQ(map->memory_limit, 0x7f0000200000ULL, "libc limit") ||
	    !ASSERT_EQ(map->file_offset, 0x28000, "libc offset") ||
	    !ASSERT_STREQ(pprof__profile_str(p, map->filename),
			  "/usr/lib/x86_64-linux-gnu/libc.so.6", "libc file") ||
	    !ASSERT_STREQ(pprof__profile_str(p, map->build_id), T_LIBC_BUILD_ID, "libc build id") ||
	    !ASSERT_TRUE(map->has_functions && !map->has_filenames && !map->has_line_numbers &&
			     !map->has_inline_frames,
			 "libc flags") ||
	    !ASSERT_TRUE(pprof__profile_mapping(p, 3) == NULL, "no mapping 3"))
		goto cleanup;

	/* Locations, with the inlined callee first. */
	if (!ASSERT_EQ(m->n_location, 4, "locations") || !ASSERT_EQ(m->n_function, 5, "functions"))
		goto cleanup;
	loc = pprof__profile_location(p, ids.loc_grow);
	if (!ASSERT_OK_PTR(loc, "grow location") ||
	    !ASSERT_EQ(loc->mapping_id, 1, "grow mapping") ||
	    !ASSERT_EQ(loc->address, 0x401234, "grow address") ||
	    !ASSERT_EQ(loc->n_line, 2, "grow lines") ||
	    !ASSERT_STREQ(fn_name(p, loc->line[0]->function_id), "grow_slice", "inlined fn") ||
	    !ASSERT_EQ(loc->line[0]->line, 42, "inlined line") ||
	    !ASSERT_STREQ(fn_name(p, loc->line[1]->function_id), "append_item", "caller fn") ||
	    !ASSERT_EQ(loc->line[1]->line, 57, "caller line"))
		goto cleanup;
	fn = pprof__profile_function(p, loc->line[0]->function_id);
	if (!ASSERT_STREQ(pprof__profile_str(p, fn->system_name), "grow_slice", "system name") ||
	    !ASSERT_STREQ(pprof__profile_str(p, fn->filename), "src/slice.c", "fn file"))
		goto cleanup;
	loc = pprof__profile_location(p, ids.loc_malloc);
	if (!ASSERT_OK_PTR(loc, "malloc location") ||
	    !ASSERT_EQ(loc->mapping_id, 2, "malloc mapping") ||
	    !ASSERT_EQ(loc->address, 0x7f0000031000ULL, "malloc address") ||
	    !ASSERT_EQ(loc->n_line, 1, "malloc lines") ||
	    !ASSERT_EQ(loc->line[0]->line, 3287, "malloc line"))
		goto cleanup;
	fn = pprof__profile_function(p, loc->line[0]->function_id);
	if (!ASSERT_OK_PTR(fn, "malloc fn") ||
	    !ASSERT_STREQ(pprof__profile_str(p, fn->name), "malloc", "malloc name") ||
	    !ASSERT_STREQ(pprof__profile_str(p, fn->system_name), "__libc_malloc",
			  "malloc system name") ||
	    !ASSERT_STREQ(pprof__profile_str(p, fn->filename), "malloc.c", "malloc file"))
		goto cleanup;

	/* Samples: stacks, values and labels. */
	if (!ASSERT_EQ(m->n_sample, 3, "samples"))
		goto cleanup;
	s = m->sample[0];
	if (!ASSERT_EQ(s->n_location_id, 2, "s0 depth") ||
	    !ASSERT_EQ(s->location_id[0], ids.loc_grow, "s0 leaf") ||
	    !ASSERT_EQ(s->location_id[1], ids.loc_main, "s0 root") ||
	    !ASSERT_EQ(s->n_value, 4, "s0 values") || !ASSERT_EQ(s->value[0], 6, "s0 v0") ||
	    !ASSERT_EQ(s->value[1], 3 * MiB, "s0 v1") || !ASSERT_EQ(s->value[2], 1, "s0 v2") ||
	    !ASSERT_EQ(s->value[3], MiB / 2, "s0 v3") || !ASSERT_EQ(s->n_label, 2, "s0 labels") ||
	    !ASSERT_STREQ(pprof__profile_str(p, s->label[0]->key), "cause", "s0 l0 key") ||
	    !ASSERT_STREQ(pprof__profile_str(p, s->label[0]->str), "slice-growth", "s0 l0 str") ||
	    !ASSERT_EQ(s->label[0]->num, 0, "s0 l0 num") ||
	    !ASSERT_STREQ(pprof__profile_str(p, s->label[1]->key), "bytes", "s0 l1 key") ||
	    !ASSERT_EQ(s->label[1]->str, 0, "s0 l1 str") ||
	    !ASSERT_EQ(s->label[1]->num, 524288, "s0 l1 num") ||
	    !ASSERT_STREQ(pprof__profile_str(p, s->label[1]->num_unit), "bytes", "s0 l1 unit"))
		goto cleanup;
	s = m->sample[1];
	if (!ASSERT_EQ(s->location_id[0], ids.loc_parse, "s1 leaf") ||
	    !ASSERT_EQ(s->value[0], 256, "s1 v0") || !ASSERT_EQ(s->value[3], MiB, "s1 v3") ||
	    !ASSERT_EQ(s->n_label, 2, "s1 labels") ||
	    !ASSERT_STREQ(pprof__profile_str(p, s->label[1]->key), "tid", "s1 l1 key") ||
	    !ASSERT_EQ(s->label[1]->num, 4242, "s1 l1 num") ||
	    !ASSERT_EQ(s->label[1]->num_unit, 0, "s1 l1 no unit"))
		goto cleanup;
	s = m->sample[2];
	if (!ASSERT_EQ(s->n_location_id, 3, "s2 depth") ||
	    !ASSERT_EQ(s->location_id[0], ids.loc_malloc, "s2 leaf") ||
	    !ASSERT_EQ(s->location_id[2], ids.loc_main, "s2 root") ||
	    !ASSERT_EQ(s->value[1], 65536, "s2 v1") || !ASSERT_EQ(s->n_label, 0, "s2 labels"))
		goto cleanup;

	/* The file path gives the same profile back. */
	dir = make_tmp_dir();
	if (!dir)
		goto cleanup;
	snprintf(path, sizeof(path), "%s/rt.pb.gz", dir);
	if (!ASSERT_OK(pprof__write_file(b, path), "pprof__write_file"))
		goto cleanup;
	pf = pprof__read_file(path);
	if (!ASSERT_OK_PTR(pf, "pprof__read_file") ||
	    !ASSERT_EQ(pprof__profile_msg(pf)->n_sample, 3, "file samples") ||
	    !ASSERT_EQ(pprof__profile_msg(pf)->n_string_table, m->n_string_table, "file strings"))
		goto cleanup;

cleanup:
	pprof__profile_free(p);
	pprof__profile_free(pf);
	free(buf);
	pprof__free(b);
	if (dir)
		remove_tmp_dir(dir);
}

TEST(pprof_interning_and_ids)
{
	const struct pprof_value_type types[] = {{"samples", "count"}};
	const struct pprof_opts opts = {.sample_types = types, .sample_type_cnt = 1};
	const struct pprof_line f_a[] = {{"a", NULL, "a.c", 1}};
	const struct pprof_line f_a_again[] = {{"a", NULL, "a.c", 2}};
	const struct pprof_line f_a_mangled[] = {{"a", "_Z1av", "a.c", 1}};
	const struct pprof_line f_b[] = {{"b", NULL, "b.c", 1}, {NULL, NULL, NULL, 0}};
	const struct pprof_mapping_desc map = {.filename = "/bin/x", .memory_limit = 0x10000};
	struct pprof_profile *p = NULL;
	const Perftools__Profiles__Profile *m;
	struct pprof_builder *b;
	long id1, id2, id3, id4, id5, id6;
	void *buf = NULL;
	size_t len, i;

	b = pprof__new(&opts);
	if (!ASSERT_OK_PTR(b, "pprof__new"))
		return;
	if (!ASSERT_EQ(pprof__add_mapping(b, &map), 1, "mapping 1") ||
	    !ASSERT_EQ(pprof__add_mapping(b, &map), 2, "identical mapping is not merged"))
		goto cleanup;
	id1 = pprof__add_location(b, 1, 0x100, f_a, 1);
	/* Same mapping and address: the first location, whatever the lines say. */
	id2 = pprof__add_location(b, 1, 0x100, f_b, 1);
	/* Same address in another mapping, and the same function at another address. */
	id3 = pprof__add_location(b, 2, 0x100, f_a_again, 1);
	/* Address 0 is unknown, so never merged. */
	id4 = pprof__add_location(b, 1, 0, f_a, 1);
	id5 = pprof__add_location(b, 1, 0, f_a, 1);
	/* Another system name makes another function; a NULL function emits no line. */
	id6 = pprof__add_location(b, 0, 0x200, f_a_mangled, 1);
	if (!ASSERT_EQ(id1, 1, "id1") || !ASSERT_EQ(id2, 1, "same mapping+address") ||
	    !ASSERT_EQ(id3, 2, "other mapping") || !ASSERT_EQ(id4, 3, "address 0") ||
	    !ASSERT_EQ(id5, 4, "address 0 again") || !ASSERT_EQ(id6, 5, "no mapping") ||
	    !ASSERT_EQ(pprof__add_location(b, 2, 0x300, f_b, 2), 6, "NULL line"))
		goto cleanup;

	/* Bad references are refused, not encoded into a profile pprof would reject. */
	{
		const __u64 bad[] = {7}, zero[] = {0}, good[] = {6, 1};
		const __s64 v[] = {1};
		const struct pprof_label nokey[] = {{.key = NULL, .str = "x"}};

		if (!ASSERT_EQ(pprof__add_location(b, 3, 0x100, f_a, 1), -EINVAL, "bad mapping") ||
		    !ASSERT_EQ(pprof__add_sample(b, bad, 1, v, NULL, 0), -EINVAL, "bad location") ||
		    !ASSERT_EQ(pprof__add_sample(b, zero, 1, v, NULL, 0), -EINVAL, "location 0") ||
		    !ASSERT_EQ(pprof__add_sample(b, good, 2, v, nokey, 1), -EINVAL, "no key") ||
		    !ASSERT_OK(pprof__add_sample(b, good, 2, v, NULL, 0), "good sample") ||
		    !ASSERT_OK(pprof__add_sample(b, NULL, 0, v, NULL, 0), "empty stack"))
			goto cleanup;
	}

	if (!ASSERT_OK(pprof__encode(b, &buf, &len), "encode"))
		goto cleanup;
	p = pprof__decode(buf, len);
	if (!ASSERT_OK_PTR(p, "decode"))
		goto cleanup;
	m = pprof__profile_msg(p);
	/* a/a.c (twice), b/b.c and a/_Z1av/a.c: three functions. */
	if (!ASSERT_EQ(m->n_function, 3, "functions") ||
	    !ASSERT_EQ(m->n_location, 6, "locations") || !ASSERT_EQ(m->n_mapping, 2, "mappings") ||
	    !ASSERT_EQ(m->n_sample, 2, "samples"))
		goto cleanup;
	for (i = 0; i < m->n_function; i++)
		if (!ASSERT_EQ(m->function[i]->id, i + 1, "function id == index + 1"))
			goto cleanup;
	for (i = 0; i < m->n_location; i++)
		if (!ASSERT_EQ(m->location[i]->id, i + 1, "location id == index + 1"))
			goto cleanup;
	for (i = 0; i < m->n_mapping; i++)
		if (!ASSERT_EQ(m->mapping[i]->id, i + 1, "mapping id == index + 1"))
			goto cleanup;
	if (!ASSERT_EQ(m->location[0]->line[0]->function_id, m->location[1]->line[0]->function_id,
		       "same function at two addresses") ||
	    !ASSERT_EQ(m->location[0]->line[0]->line, 1, "first lines kept") ||
	    !ASSERT_EQ(m->location[1]->line[0]->line, 2, "line per location") ||
	    !ASSERT_TRUE(m->location[4]->line[0]->function_id !=
			     m->location[0]->line[0]->function_id,
			 "system name distinguishes") ||
	    !ASSERT_EQ(m->location[4]->mapping_id, 0, "mapping 0") ||
	    !ASSERT_EQ(m->location[5]->n_line, 1, "NULL function emits no line"))
		goto cleanup;
	/* Every string once: "", samples, count, /bin/x, a, a.c, b, b.c, _Z1av. */
	if (!ASSERT_EQ(m->n_string_table, 9, "strings interned"))
		goto cleanup;

cleanup:
	pprof__profile_free(p);
	free(buf);
	pprof__free(b);
}

TEST(pprof_bad_options)
{
	const struct pprof_value_type types[] = {{"alloc_space", "bytes"}};
	struct pprof_opts opts = {.sample_types = types, .sample_type_cnt = 1};
	enum log_level lvl = log_get_level();
	struct pprof_builder *b;

	log_set_level(LOG_LVL_ERROR);
	opts.default_sample_type = "inuse_space";
	errno = 0;
	b = pprof__new(&opts);
	ASSERT_TRUE(b == NULL && errno == EINVAL, "unknown default sample type");
	pprof__free(b);
	opts.default_sample_type = NULL;
	opts.sample_type_cnt = 0;
	errno = 0;
	b = pprof__new(&opts);
	ASSERT_TRUE(b == NULL && errno == EINVAL, "no sample types");
	pprof__free(b);
	errno = 0;
	ASSERT_TRUE(pprof__new(NULL) == NULL && errno == EINVAL, "NULL opts");
	log_set_level(lvl);
}

/* gzip of len bytes from src, malloc'ed into *out. */
static bool gzip_bytes(const void *src, size_t len, void **out, size_t *out_len)
{
	z_stream zs = {};
	size_t cap;
	int ret;

	cap = compressBound(len) + 64;
	*out = malloc(cap);
	if (!*out || deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY))
		return false;
	zs.next_in = (Bytef *)src;
	zs.avail_in = len;
	zs.next_out = *out;
	zs.avail_out = cap;
	ret = deflate(&zs, Z_FINISH);
	*out_len = zs.total_out;
	deflateEnd(&zs);
	return ret == Z_STREAM_END;
}

static bool assert_rejects(const void *buf, size_t len, size_t max, int want_errno,
			   const char *what)
{
	struct pprof_decode_opts opts = {.max_decoded_bytes = max};
	struct pprof_profile *p;

	errno = 0;
	p = pprof__decode_opts(buf, len, &opts);
	if (p) {
		pprof__profile_free(p);
		return test__fail(__FILE__, __LINE__, "%s: decoded", what);
	}
	if (errno != want_errno)
		return test__fail(__FILE__, __LINE__, "%s: errno %d (%s), want %d", what, errno,
				  strerror(errno), want_errno);
	return true;
}

/* Packs a hand-made message, to feed the validator inputs the builder cannot produce. */
static void *pack(const Perftools__Profiles__Profile *m, size_t *len)
{
	void *buf = malloc(perftools__profiles__profile__get_packed_size(m) + 1);

	if (buf)
		*len = perftools__profiles__profile__pack(m, buf);
	return buf;
}

TEST(pprof_decode_rejects_malformed)
{
	enum log_level lvl = log_get_level();
	struct pprof_builder *b = NULL;
	unsigned char random_bytes[4096];
	void *good = NULL, *gz = NULL, *raw = NULL;
	size_t good_len = 0, gz_len = 0, raw_len = 0, i;
	unsigned int seed = 12345;
	unsigned char *zeros = NULL;
	char *strs[] = {"", "x"};
	const char *stra[] = {"x", ""};

	/* The decoder warns about each rejected input; the errno is what is under test. */
	log_set_level(LOG_LVL_ERROR);
	b = build_heap_profile(NULL, NULL);
	if (!b)
		goto cleanup;
	if (!ASSERT_OK(pprof__encode(b, &good, &good_len), "encode"))
		goto cleanup;

	if (!assert_rejects(good, good_len / 2, 0, EBADMSG, "truncated gzip") ||
	    !assert_rejects(good, good_len - 4, 0, EBADMSG, "gzip without its size trailer") ||
	    !assert_rejects(good, 10, 0, EBADMSG, "gzip header only") ||
	    !assert_rejects(good, 2, 0, EBADMSG, "gzip magic only") ||
	    !assert_rejects(good, 0, 0, EBADMSG, "empty input") ||
	    !assert_rejects(NULL, 5, 0, EINVAL, "NULL buffer"))
		goto cleanup;
	/* Corrupt one byte of the deflate data: the CRC or the stream must catch it. */
	((unsigned char *)good)[good_len / 2] ^= 0x55;
	if (!assert_rejects(good, good_len, 0, EBADMSG, "corrupt gzip"))
		goto cleanup;
	((unsigned char *)good)[good_len / 2] ^= 0x55;
	/* Trailing junk after the gzip member. */
	{
		unsigned char *junk = malloc(good_len + 3);
		bool ok;

		if (!ASSERT_OK_PTR(junk, "malloc"))
			goto cleanup;
		memcpy(junk, good, good_len);
		memcpy(junk + good_len, "abc", 3);
		ok = assert_rejects(junk, good_len + 3, 0, EBADMSG, "trailing garbage");
		free(junk);
		if (!ok)
			goto cleanup;
	}

	for (i = 0; i < sizeof(random_bytes); i++)
		random_bytes[i] = rand_r(&seed) & 0xff;
	random_bytes[0] = 0x0a; /* not the gzip magic, so it is parsed as protobuf */
	if (!assert_rejects(random_bytes, sizeof(random_bytes), 0, EBADMSG, "random bytes"))
		goto cleanup;
	if (!ASSERT_TRUE(gzip_bytes(random_bytes, sizeof(random_bytes), &gz, &gz_len), "gzip") ||
	    !assert_rejects(gz, gz_len, 0, EBADMSG, "gzip of garbage"))
		goto cleanup;
	free(gz);
	gz = NULL;

	/* A bomb: 4 MiB of zeros compresses to a few KiB; the 1 MiB limit must stop it. */
	zeros = calloc(1, 4 * MiB);
	if (!ASSERT_OK_PTR(zeros, "calloc") ||
	    !ASSERT_TRUE(gzip_bytes(zeros, 4 * MiB, &gz, &gz_len), "gzip zeros") ||
	    !ASSERT_TRUE(gz_len < 64 * 1024, "bomb is small") ||
	    !assert_rejects(gz, gz_len, MiB, EFBIG, "zip bomb") ||
	    !assert_rejects(good, good_len, 64, EFBIG, "profile over the limit"))
		goto cleanup;

	/* Well-formed protobuf that pprof would still refuse. */
	{
		Perftools__Profiles__Profile m = PERFTOOLS__PROFILES__PROFILE__INIT;
		Perftools__Profiles__ValueType vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
		Perftools__Profiles__ValueType *vtp = &vt;
		Perftools__Profiles__Function f = PERFTOOLS__PROFILES__FUNCTION__INIT;
		Perftools__Profiles__Function *fp = &f;
		Perftools__Profiles__Line ln = PERFTOOLS__PROFILES__LINE__INIT;
		Perftools__Profiles__Line *lnp = &ln;
		Perftools__Profiles__Location loc = PERFTOOLS__PROFILES__LOCATION__INIT;
		Perftools__Profiles__Location *locp = &loc;
		Perftools__Profiles__Sample s = PERFTOOLS__PROFILES__SAMPLE__INIT;
		Perftools__Profiles__Sample *sp = &s;
		uint64_t loc_ids[] = {1};
		int64_t vals[] = {1, 2};

		m.n_string_table = 2;
		m.string_table = strs;
		m.n_sample_type = 1;
		m.sample_type = &vtp;
		vt.type = 1;
		f.id = 1;
		f.name = 1;
		m.n_function = 1;
		m.function = &fp;
		loc.id = 1;
		loc.n_line = 1;
		loc.line = &lnp;
		ln.function_id = 1;
		m.n_location = 1;
		m.location = &locp;
		s.n_location_id = 1;
		s.location_id = loc_ids;
		s.n_value = 1;
		s.value = vals;
		m.n_sample = 1;
		m.sample = &sp;

		/* The valid base case first, so each rejection below is due to its one change. */
		raw = pack(&m, &raw_len);
		{
			struct pprof_profile *p = pprof__decode(raw, raw_len);

			if (!ASSERT_OK_PTR(p, "valid hand-made profile"))
				goto cleanup;
			pprof__profile_free(p);
		}
		free(raw);

		m.string_table = (char **)stra;
		raw = pack(&m, &raw_len);
		if (!assert_rejects(raw, raw_len, 0, EBADMSG, "string_table[0] not empty"))
			goto cleanup;
		free(raw);
		m.string_table = strs;

		f.name = 2;
		raw = pack(&m, &raw_len);
		if (!assert_rejects(raw, raw_len, 0, EBADMSG, "string index out of range"))
			goto cleanup;
		free(raw);
		f.name = 1;

		ln.function_id = 9;
		raw = pack(&m, &raw_len);
		if (!assert_rejects(raw, raw_len, 0, EBADMSG, "unknown function"))
			goto cleanup;
		free(raw);
		ln.function_id = 1;

		loc.mapping_id = 3;
		raw = pack(&m, &raw_len);
		if (!assert_rejects(raw, raw_len, 0, EBADMSG, "unknown mapping"))
			goto cleanup;
		free(raw);
		loc.mapping_id = 0;

		loc_ids[0] = 2;
		raw = pack(&m, &raw_len);
		if (!assert_rejects(raw, raw_len, 0, EBADMSG, "unknown location"))
			goto cleanup;
		free(raw);
		loc_ids[0] = 1;

		s.n_value = 2;
		raw = pack(&m, &raw_len);
		if (!assert_rejects(raw, raw_len, 0, EBADMSG, "value count"))
			goto cleanup;
		free(raw);
		s.n_value = 1;

		f.id = 0;
		ln.function_id = 0;
		raw = pack(&m, &raw_len);
		if (!assert_rejects(raw, raw_len, 0, EBADMSG, "id 0"))
			goto cleanup;
		free(raw);
		raw = NULL;
	}

cleanup:
	log_set_level(lvl);
	free(raw);
	free(zeros);
	free(gz);
	free(good);
	pprof__free(b);
}

TEST(pprof_decode_concatenated_gzip_members)
{
	struct pprof_builder *b = NULL;
	struct pprof_profile *p = NULL;
	unsigned char *two = NULL;
	size_t good_len = 0, gz_len = 0;
	void *good = NULL;
	unsigned char *raw_part;

	/* gzip -c a b > c is valid gzip, and Go's reader takes it; split the raw protobuf in two
	 * members (protobuf messages concatenate as a merge). */
	b = build_heap_profile(NULL, NULL);
	if (!b || !ASSERT_OK(pprof__encode(b, &good, &good_len), "encode"))
		goto cleanup;
	p = pprof__decode(good, good_len);
	if (!ASSERT_OK_PTR(p, "decode"))
		goto cleanup;
	{
		const Perftools__Profiles__Profile *m = pprof__profile_msg(p);
		size_t raw_len = perftools__profiles__profile__get_packed_size(m), half;
		void *g1 = NULL, *g2 = NULL;
		size_t g1_len = 0, g2_len = 0;
		bool ok;

		raw_part = malloc(raw_len);
		if (!ASSERT_OK_PTR(raw_part, "malloc"))
			goto cleanup;
		perftools__profiles__profile__pack(m, raw_part);
		half = raw_len / 2;
		ok = gzip_bytes(raw_part, half, &g1, &g1_len) &&
		     gzip_bytes(raw_part + half, raw_len - half, &g2, &g2_len);
		free(raw_part);
		two = ok ? malloc(g1_len + g2_len) : NULL;
		if (two) {
			memcpy(two, g1, g1_len);
			memcpy(two + g1_len, g2, g2_len);
			gz_len = g1_len + g2_len;
		}
		free(g1);
		free(g2);
		if (!ASSERT_OK_PTR(two, "two members"))
			goto cleanup;
	}
	pprof__profile_free(p);
	p = pprof__decode(two, gz_len);
	if (!ASSERT_OK_PTR(p, "decode two members") ||
	    !ASSERT_EQ(pprof__profile_msg(p)->n_sample, 3, "samples"))
		goto cleanup;

cleanup:
	pprof__profile_free(p);
	free(two);
	free(good);
	pprof__free(b);
}

TEST(pprof_write_file_is_atomic)
{
	enum log_level lvl = log_get_level();
	struct pprof_builder *b = NULL;
	struct pprof_profile *p = NULL;
	const char *dir = NULL;
	char path[128], bad[160];
	struct stat st;
	FILE *f;

	dir = make_tmp_dir();
	if (!dir)
		return;
	b = build_heap_profile(NULL, NULL);
	if (!b)
		goto cleanup;
	snprintf(path, sizeof(path), "%s/heap.pb.gz", dir);

	/* An old profile is replaced whole. */
	f = fopen(path, "w");
	if (!ASSERT_OK_PTR(f, "fopen"))
		goto cleanup;
	fputs("old contents", f);
	fclose(f);
	if (!ASSERT_OK(pprof__write_file(b, path), "write over old") ||
	    !ASSERT_EQ(count_dir_entries(dir), 1, "no temporary file left") ||
	    !ASSERT_OK(stat(path, &st), "stat") ||
	    !ASSERT_EQ(st.st_mode & 0777, 0644, "readable profile"))
		goto cleanup;
	p = pprof__read_file(path);
	if (!ASSERT_OK_PTR(p, "read back"))
		goto cleanup;

	/* A failure leaves nothing behind and reports the errno. */
	log_set_level(LOG_LVL_ERROR);
	snprintf(bad, sizeof(bad), "%s/missing/heap.pb.gz", dir);
	if (!ASSERT_EQ(pprof__write_file(b, bad), -ENOENT, "missing directory") ||
	    !ASSERT_EQ(count_dir_entries(dir), 1, "nothing created"))
		goto cleanup;
	/* rename() onto a directory fails after the data was written: the temp must go. */
	snprintf(bad, sizeof(bad), "%s/adir", dir);
	if (!ASSERT_OK(mkdir(bad, 0755), "mkdir") ||
	    !ASSERT_EQ(pprof__write_file(b, bad), -EISDIR, "rename onto a directory") ||
	    !ASSERT_EQ(count_dir_entries(dir), 2, "temporary file removed"))
		goto cleanup;
	errno = 0;
	if (!ASSERT_TRUE(pprof__read_file(bad) == NULL && errno == EINVAL, "read a directory"))
		goto cleanup;
	snprintf(bad, sizeof(bad), "%s/nope", dir);
	errno = 0;
	if (!ASSERT_TRUE(pprof__read_file(bad) == NULL && errno == ENOENT, "read missing file"))
		goto cleanup;

cleanup:
	log_set_level(lvl);
	pprof__profile_free(p);
	pprof__free(b);
	if (dir) {
		snprintf(bad, sizeof(bad), "%s/adir", dir);
		rmdir(bad);
		remove_tmp_dir(dir);
	}
}

TEST(pprof_many_samples)
{
	const struct pprof_value_type types[] = {{"alloc_space", "bytes"}};
	const struct pprof_opts opts = {.sample_types = types, .sample_type_cnt = 1};
	const struct pprof_mapping_desc map = {.filename = "/bin/big", .memory_limit = ~0ULL};
	enum { N_FUNCS = 20000, N_LOCS = 100000, N_SAMPLES = 200000, DEPTH = 8 };
	struct pprof_profile *p = NULL;
	struct pprof_builder *b;
	char name[32], file[32];
	void *buf = NULL;
	size_t len = 0, i, j;
	__u64 stack[DEPTH];
	__s64 total = 0;
	long id;
	int err = 0;

	/* Each step interns through hash tables; a quadratic path would take minutes here. */
	b = pprof__new(&opts);
	if (!ASSERT_OK_PTR(b, "pprof__new") || !ASSERT_EQ(pprof__add_mapping(b, &map), 1, "map"))
		goto cleanup;
	for (i = 0; i < 2 * N_LOCS; i++) {
		struct pprof_line line = {name, NULL, file, (__s64)(i % 977)};

		/* Every location is added twice; the second must return the first id. */
		snprintf(name, sizeof(name), "fn_%zu", (i % N_LOCS) % N_FUNCS);
		snprintf(file, sizeof(file), "file_%zu.c", ((i % N_LOCS) % N_FUNCS) % 97);
		id = pprof__add_location(b, 1, 0x1000 + (i % N_LOCS) * 16, &line, 1);
		if (!ASSERT_EQ(id, (long)(i % N_LOCS) + 1, "location id"))
			goto cleanup;
	}
	for (i = 0; i < N_SAMPLES && !err; i++) {
		__s64 v = (__s64)(i % 4096) + 1;

		for (j = 0; j < DEPTH; j++)
			stack[j] = (i * 7919 + j * 104729) % N_LOCS + 1;
		err = pprof__add_sample(b, stack, DEPTH, &v, NULL, 0);
		total += v;
	}
	if (!ASSERT_OK(err, "add samples") || !ASSERT_OK(pprof__encode(b, &buf, &len), "encode"))
		goto cleanup;
	p = pprof__decode(buf, len);
	if (!ASSERT_OK_PTR(p, "decode"))
		goto cleanup;
	{
		const Perftools__Profiles__Profile *m = pprof__profile_msg(p);
		__s64 sum = 0;

		for (i = 0; i < m->n_sample; i++)
			sum += m->sample[i]->value[0];
		if (!ASSERT_EQ(m->n_location, N_LOCS, "locations") ||
		    !ASSERT_EQ(m->n_function, N_FUNCS, "functions") ||
		    !ASSERT_EQ(m->n_sample, N_SAMPLES, "samples") ||
		    !ASSERT_EQ(sum, total, "sum") ||
		    !ASSERT_TRUE(pprof__profile_location(p, N_LOCS) != NULL, "last location") ||
		    !ASSERT_TRUE(pprof__profile_location(p, N_LOCS + 1) == NULL, "past the end"))
			goto cleanup;
	}

cleanup:
	pprof__profile_free(p);
	free(buf);
	pprof__free(b);
}
