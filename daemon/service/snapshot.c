// SPDX-License-Identifier: MIT
/*
 * The snapshot store. On disk, a snapshot is two files in the directory: ID.pb.gz (the pprof)
 * and ID.json (its fields and timeline), each written atomically, the JSON last: a snapshot is
 * listed at start only when both exist. Profiles beyond the in-memory bound are read back from
 * disk on request; without a directory they are dropped, oldest first.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "service/snapshot.h"
#include "util/atomic_file.h"
#include "util/common.h"
#include "util/log.h"

#define DEFAULT_MAX_IN_MEMORY 32
/* Entries listed from disk: a bound whatever the size bound says. */
#define MAX_ENTRIES 100000

struct snap {
	struct snap_meta m;
	void *pprof; /* NULL: on disk only */
	size_t len;
	char *timeline; /* JSON text; NULL: none, or on disk only */
	int on_disk;
	__u64 disk_bytes; /* both files */
};

struct snapshot_store {
	struct snapshot_store_opts o;
	char *dir;
	struct snap *v; /* oldest first */
	size_t cnt;
	size_t cap;
	struct snapshot_stats stats;
};

bool snapshot_id__valid(const char *id)
{
	size_t n = strlen(id);

	if (!n || n >= SNAPSHOT_ID_MAX || id[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') ||
		      id[i] == '-'))
			return false;
	return true;
}

static void snap_release(struct snap *e)
{
	free(e->pprof);
	free(e->timeline);
	e->pprof = NULL;
	e->timeline = NULL;
}

static void file_path(const struct snapshot_store *s, const char *id, const char *ext, char *buf,
		      size_t len)
{
	snprintf(buf, len, "%s/%s%s", s->dir, id, ext);
}

static void format_time(__u64 ns, char *buf, size_t len)
{
	time_t sec = ns / NSEC_PER_SEC;
	struct tm tm;

	gmtime_r(&sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);

	snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ns % NSEC_PER_SEC / NSEC_PER_MSEC) % 1000);
}

static void add_u64(struct json_object *o, const char *key, __u64 v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

static struct json_object *meta_to_json(const struct snap_meta *m)
{
	struct json_object *o = json_object_new_object(), *cg;
	char when[64], url[96];

	if (!o)
		return NULL;
	format_time(m->time_ns, when, sizeof(when));
	snprintf(url, sizeof(url), "/debug/pprof/heap?snapshot=%s", m->id);
	json_object_object_add(o, "id", json_object_new_string(m->id));
	json_object_object_add(o, "pid", json_object_new_int(m->pid));
	json_object_object_add(o, "executable", json_object_new_string(m->exe));
	json_object_object_add(o, "comm", json_object_new_string(m->comm));
	json_object_object_add(o, "trigger", json_object_new_string(trigger__name(m->trigger)));
	json_object_object_add(o, "detail", json_object_new_string(m->detail));
	json_object_object_add(o, "time", json_object_new_string(when));
	add_u64(o, "time_unix_ns", m->time_ns);
	add_u64(o, "rss_bytes", m->rss_bytes);
	add_u64(o, "anon_bytes", m->anon_bytes);
	add_u64(o, "inuse_bytes", m->inuse_bytes);
	add_u64(o, "inuse_objects", m->inuse_objects);
	add_u64(o, "profile_bytes", m->profile_bytes);
	json_object_object_add(o, "profile", json_object_new_string(url));
	if (m->has_cg) {
		cg = json_object_new_object();
		json_object_object_add(cg, "path", json_object_new_string(m->cgroup));
		json_object_object_add(cg, "version", json_object_new_int(m->cg.version));
		add_u64(cg, "usage_bytes", m->cg.usage_bytes);
		add_u64(cg, "limit_bytes", m->cg.limit_bytes);
		add_u64(cg, "rss_bytes", m->cg.rss_bytes);
		add_u64(cg, "anon_bytes", m->cg.anon_bytes);
		json_object_object_add(o, "cgroup", cg);
	}
	return o;
}

static __u64 get_u64(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? (__u64)json_object_get_int64(v) : 0;
}

static void get_str(struct json_object *o, const char *key, char *buf, size_t len)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		snprintf(buf, len, "%s", json_object_get_string(v));
}

static int meta_from_json(struct json_object *o, struct snap_meta *m)
{
	struct json_object *cg;
	char trig[16] = "";

	memset(m, 0, sizeof(*m));
	get_str(o, "id", m->id, sizeof(m->id));
	get_str(o, "executable", m->exe, sizeof(m->exe));
	get_str(o, "comm", m->comm, sizeof(m->comm));
	get_str(o, "detail", m->detail, sizeof(m->detail));
	get_str(o, "trigger", trig, sizeof(trig));
	m->trigger = TRIGGER_MAX;
	for (int k = 0; k < TRIGGER_MAX; k++)
		if (!strcmp(trig, trigger__name(k)))
			m->trigger = k;
	m->pid = get_u64(o, "pid");
	m->time_ns = get_u64(o, "time_unix_ns");
	m->rss_bytes = get_u64(o, "rss_bytes");
	m->anon_bytes = get_u64(o, "anon_bytes");
	m->inuse_bytes = get_u64(o, "inuse_bytes");
	m->inuse_objects = get_u64(o, "inuse_objects");
	m->profile_bytes = get_u64(o, "profile_bytes");
	if (json_object_object_get_ex(o, "cgroup", &cg)) {
		m->has_cg = 1;
		get_str(cg, "path", m->cgroup, sizeof(m->cgroup));
		m->cg.version = get_u64(cg, "version");
		m->cg.usage_bytes = get_u64(cg, "usage_bytes");
		m->cg.limit_bytes = get_u64(cg, "limit_bytes");
		m->cg.rss_bytes = get_u64(cg, "rss_bytes");
		m->cg.anon_bytes = get_u64(cg, "anon_bytes");
	}
	return snapshot_id__valid(m->id) && m->trigger != TRIGGER_MAX ? 0 : -EINVAL;
}

/* The fields plus the timeline (NULL: none), as one JSON text. */
static char *full_json(const struct snap_meta *m, const char *timeline)
{
	struct json_object *o = meta_to_json(m), *tl;
	char *text;

	if (!o) {
		errno = ENOMEM;
		return NULL;
	}
	tl = timeline ? json_tokener_parse(timeline) : NULL;
	json_object_object_add(o, "timeline", tl);
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	if (!text)
		errno = ENOMEM;
	return text;
}

static int write_files(struct snapshot_store *s, struct snap *e)
{
	char path[PATH_MAX + SNAPSHOT_ID_MAX + 16];
	char *json;
	int err;

	file_path(s, e->m.id, ".pb.gz", path, sizeof(path));
	err = atomic_file__write(path, e->pprof, e->len);
	if (err)
		goto cleanup;
	json = full_json(&e->m, e->timeline);
	if (!json) {
		err = -errno;
		unlink(path);
		goto cleanup;
	}
	file_path(s, e->m.id, ".json", path, sizeof(path));
	err = atomic_file__write(path, json, strlen(json));
	e->disk_bytes = e->len + strlen(json);
	free(json);
	if (err) {
		file_path(s, e->m.id, ".pb.gz", path, sizeof(path));
		unlink(path);
	}
cleanup:
	if (err) {
		s->stats.write_failures++;
		log_warn("snapshot %s: cannot write to %s: %s (kept in memory only)", e->m.id,
			 s->dir, strerror(-err));
		return err;
	}
	e->on_disk = 1;
	return 0;
}

static void remove_files(struct snapshot_store *s, const char *id)
{
	char path[PATH_MAX + SNAPSHOT_ID_MAX + 16];

	/* The JSON first: a crash in between leaves a profile that is not listed. */
	file_path(s, id, ".json", path, sizeof(path));
	unlink(path);
	file_path(s, id, ".pb.gz", path, sizeof(path));
	unlink(path);
}

static int reserve(struct snapshot_store *s)
{
	struct snap *v;
	size_t cap;

	if (s->cnt < s->cap)
		return 0;
	cap = s->cap ? s->cap * 2 : 16;
	v = realloc(s->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->v = v;
	s->cap = cap;
	return 0;
}

static void drop_at(struct snapshot_store *s, size_t i)
{
	snap_release(&s->v[i]);
	memmove(&s->v[i], &s->v[i + 1], (s->cnt - i - 1) * sizeof(*s->v));
	s->cnt--;
}

static int cmp_time(const void *a, const void *b)
{
	const struct snap *x = a, *y = b;

	if (x->m.time_ns != y->m.time_ns)
		return x->m.time_ns < y->m.time_ns ? -1 : 1;
	return strcmp(x->m.id, y->m.id);
}

/* What an earlier run left: snapshots (both files), and temporary files of writes cut short. */
static void load_dir(struct snapshot_store *s)
{
	char path[PATH_MAX + 2 * SNAPSHOT_ID_MAX + 16], id[SNAPSHOT_ID_MAX];
	struct dirent *de;
	DIR *dir;

	dir = opendir(s->dir);
	if (!dir)
		return;
	while ((de = readdir(dir)) && s->cnt < MAX_ENTRIES) {
		size_t n = strlen(de->d_name);
		struct json_object *o;
		struct stat st_pb, st_js;
		struct snap e = {};

		if (strstr(de->d_name, ".tmp.")) {
			snprintf(path, sizeof(path), "%s/%s", s->dir, de->d_name);
			unlink(path);
			continue;
		}
		if (n <= 5 || n - 5 >= sizeof(id) || strcmp(de->d_name + n - 5, ".json"))
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)(n - 5), de->d_name);
		if (!snapshot_id__valid(id))
			continue;
		file_path(s, id, ".json", path, sizeof(path));
		if (stat(path, &st_js))
			continue;
		o = json_object_from_file(path);
		if (!o || meta_from_json(o, &e.m) || strcmp(e.m.id, id)) {
			log_warn("snapshot directory: %s is not a snapshot; left alone", path);
			json_object_put(o);
			continue;
		}
		json_object_put(o);
		file_path(s, id, ".pb.gz", path, sizeof(path));
		if (stat(path, &st_pb))
			continue;
		e.on_disk = 1;
		e.disk_bytes = st_pb.st_size + st_js.st_size;
		e.m.profile_bytes = st_pb.st_size;
		if (reserve(s))
			break;
		s->v[s->cnt++] = e;
	}
	closedir(dir);
	if (s->cnt)
		qsort(s->v, s->cnt, sizeof(*s->v), cmp_time);
	log_info("snapshot directory %s: %zu snapshots", s->dir, s->cnt);
}

struct snapshot_store *snapshot_store__new(const struct snapshot_store_opts *opts)
{
	struct snapshot_store *s = calloc(1, sizeof(*s));

	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->o = *opts;
	if (!s->o.max_in_memory)
		s->o.max_in_memory = DEFAULT_MAX_IN_MEMORY;
	if (opts->dir) {
		s->dir = strdup(opts->dir);
		if (!s->dir) {
			free(s);
			errno = ENOMEM;
			return NULL;
		}
		if (mkdir(s->dir, 0700) && errno != EEXIST)
			log_warn("snapshot directory %s: %s (snapshots are kept in memory only "
				 "until it can be written)",
				 s->dir, strerror(errno));
		s->o.dir = s->dir;
		load_dir(s);
	}
	return s;
}

void snapshot_store__free(struct snapshot_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->cnt; i++)
		snap_release(&s->v[i]);
	free(s->v);
	free(s->dir);
	free(s);
}

/* Over the in-memory bound: the oldest profiles held in memory let go (kept if on disk). */
static void bound_memory(struct snapshot_store *s)
{
	size_t held = 0;

	for (size_t i = 0; i < s->cnt; i++)
		held += s->v[i].pprof != NULL;
	for (size_t i = 0; i < s->cnt && held > s->o.max_in_memory;) {
		struct snap *e = &s->v[i];

		if (!e->pprof) {
			i++;
			continue;
		}
		held--;
		if (e->on_disk) {
			snap_release(e);
			i++;
		} else {
			s->stats.evicted++;
			drop_at(s, i);
		}
	}
}

int snapshot_store__add(struct snapshot_store *s, const struct snap_meta *m, void *pprof,
			size_t len, char *timeline_json, __u64 now_ns)
{
	struct snap *e;

	if (reserve(s)) {
		free(pprof);
		free(timeline_json);
		return -ENOMEM;
	}
	e = &s->v[s->cnt++];
	*e = (struct snap){.m = *m, .pprof = pprof, .len = len, .timeline = timeline_json};
	e->m.profile_bytes = len;
	s->stats.taken[m->trigger < TRIGGER_MAX ? m->trigger : TRIGGER_REQUEST]++;
	if (s->dir)
		write_files(s, e);
	snapshot_store__expire(s, now_ns);
	bound_memory(s);
	return 0;
}

void snapshot_store__expire(struct snapshot_store *s, __u64 now_ns)
{
	__u64 total = 0;

	if (!s->dir)
		return;
	for (size_t i = 0; i < s->cnt;) {
		struct snap *e = &s->v[i];

		if (e->on_disk && s->o.max_age_ns && now_ns > e->m.time_ns &&
		    now_ns - e->m.time_ns > s->o.max_age_ns) {
			remove_files(s, e->m.id);
			s->stats.removed++;
			drop_at(s, i);
			continue;
		}
		total += e->on_disk ? e->disk_bytes : 0;
		i++;
	}
	/* Oldest first, but never the newest one: the size bound is for the history. */
	for (size_t i = 0; s->o.max_disk_bytes && total > s->o.max_disk_bytes && i + 1 < s->cnt;) {
		struct snap *e = &s->v[i];

		if (!e->on_disk) {
			i++;
			continue;
		}
		total -= e->disk_bytes;
		remove_files(s, e->m.id);
		s->stats.removed++;
		drop_at(s, i);
	}
	while (s->cnt > MAX_ENTRIES) {
		if (s->v[0].on_disk)
			remove_files(s, s->v[0].m.id);
		drop_at(s, 0);
	}
}

size_t snapshot_store__count(const struct snapshot_store *s)
{
	return s->cnt;
}

const struct snap_meta *snapshot_store__at(const struct snapshot_store *s, size_t i)
{
	return i < s->cnt ? &s->v[i].m : NULL;
}

static const struct snap *find(const struct snapshot_store *s, const char *id)
{
	if (!snapshot_id__valid(id))
		return NULL;
	for (size_t i = s->cnt; i-- > 0;)
		if (!strcmp(s->v[i].m.id, id))
			return &s->v[i];
	return NULL;
}

char *snapshot_store__list_json(const struct snapshot_store *s)
{
	struct json_object *a = json_object_new_array();
	char *text;

	if (!a) {
		errno = ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < s->cnt; i++)
		json_object_array_add(a, meta_to_json(&s->v[i].m));
	text = strdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
	json_object_put(a);
	if (!text)
		errno = ENOMEM;
	return text;
}

/* A whole file into a malloc'ed buffer. */
static int slurp(const char *path, void **buf, size_t *len)
{
	struct stat st;
	char *b = NULL;
	size_t got = 0;
	int fd, err = 0;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto cleanup;
	}
	b = malloc(st.st_size ? st.st_size : 1);
	if (!b) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, b + got, st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			goto cleanup;
		}
		got += n;
	}
	*buf = b;
	*len = got;
	b = NULL;
cleanup:
	free(b);
	close(fd);
	return err;
}

char *snapshot_store__get_json(const struct snapshot_store *s, const char *id)
{
	char path[PATH_MAX + SNAPSHOT_ID_MAX + 16];
	const struct snap *e = find(s, id);
	void *buf = NULL;
	char *text;
	size_t len;
	int err;

	if (!e) {
		errno = ENOENT;
		return NULL;
	}
	if (!e->on_disk || e->pprof)
		return full_json(&e->m, e->timeline);
	file_path(s, id, ".json", path, sizeof(path));
	err = slurp(path, &buf, &len);
	if (err) {
		errno = -err == ENOENT ? EIO : -err;
		return NULL;
	}
	text = realloc(buf, len + 1);
	if (!text) {
		free(buf);
		errno = ENOMEM;
		return NULL;
	}
	text[len] = '\0';
	return text;
}

int snapshot_store__pprof(const struct snapshot_store *s, const char *id, void **buf, size_t *len)
{
	char path[PATH_MAX + SNAPSHOT_ID_MAX + 16];
	const struct snap *e = find(s, id);
	int err;

	if (!e)
		return -ENOENT;
	if (e->pprof) {
		*buf = malloc(e->len);
		if (!*buf)
			return -ENOMEM;
		memcpy(*buf, e->pprof, e->len);
		*len = e->len;
		return 0;
	}
	file_path(s, id, ".pb.gz", path, sizeof(path));
	err = slurp(path, buf, len);
	/* Removed behind our back: the snapshot is gone, not the server broken. */
	return err == -ENOENT ? -ENOENT : err;
}

struct snapshot_stats *snapshot_store__stats(struct snapshot_store *s)
{
	return &s->stats;
}

void snapshot_store__write_metrics(const struct snapshot_store *s, FILE *f)
{
	size_t in_memory = 0, on_disk = 0;
	__u64 disk_bytes = 0;

	for (size_t i = 0; i < s->cnt; i++) {
		in_memory += s->v[i].pprof != NULL;
		on_disk += s->v[i].on_disk;
		disk_bytes += s->v[i].on_disk ? s->v[i].disk_bytes : 0;
	}
	fputs("# HELP allocscope_snapshots_total Heap snapshots taken, by trigger.\n"
	      "# TYPE allocscope_snapshots_total counter\n",
	      f);
	for (int k = 0; k < TRIGGER_MAX; k++)
		fprintf(f, "allocscope_snapshots_total{trigger=\"%s\"} %llu\n", trigger__name(k),
			(unsigned long long)s->stats.taken[k]);
	fprintf(
	    f,
	    "# HELP allocscope_snapshots_suppressed_total Automatic snapshots not taken: the "
	    "target's cooldown had not passed.\n"
	    "# TYPE allocscope_snapshots_suppressed_total counter\n"
	    "allocscope_snapshots_suppressed_total %llu\n"
	    "# HELP allocscope_snapshot_failures_total Snapshots that could not be built.\n"
	    "# TYPE allocscope_snapshot_failures_total counter\n"
	    "allocscope_snapshot_failures_total %llu\n"
	    "# HELP allocscope_snapshot_write_failures_total Snapshots that could not be written "
	    "to --snapshot-dir (kept in memory).\n"
	    "# TYPE allocscope_snapshot_write_failures_total counter\n"
	    "allocscope_snapshot_write_failures_total %llu\n"
	    "# HELP allocscope_snapshots_evicted_total Snapshots dropped from memory with no copy "
	    "on disk (over --max-snapshots).\n"
	    "# TYPE allocscope_snapshots_evicted_total counter\n"
	    "allocscope_snapshots_evicted_total %llu\n"
	    "# HELP allocscope_snapshots_removed_total Snapshot files removed by age or total "
	    "size.\n"
	    "# TYPE allocscope_snapshots_removed_total counter\n"
	    "allocscope_snapshots_removed_total %llu\n"
	    "# HELP allocscope_snapshots Snapshots listed at /snapshots.\n"
	    "# TYPE allocscope_snapshots gauge\n"
	    "allocscope_snapshots %zu\n"
	    "# HELP allocscope_snapshots_in_memory Snapshot profiles held in memory.\n"
	    "# TYPE allocscope_snapshots_in_memory gauge\n"
	    "allocscope_snapshots_in_memory %zu\n"
	    "# HELP allocscope_snapshots_on_disk Snapshots in --snapshot-dir.\n"
	    "# TYPE allocscope_snapshots_on_disk gauge\n"
	    "allocscope_snapshots_on_disk %zu\n"
	    "# HELP allocscope_snapshot_disk_bytes Bytes of the snapshot files.\n"
	    "# TYPE allocscope_snapshot_disk_bytes gauge\n"
	    "allocscope_snapshot_disk_bytes %llu\n",
	    (unsigned long long)s->stats.suppressed, (unsigned long long)s->stats.failed,
	    (unsigned long long)s->stats.write_failures, (unsigned long long)s->stats.evicted,
	    (unsigned long long)s->stats.removed, s->cnt, in_memory, on_disk,
	    (unsigned long long)disk_bytes);
}
