// SPDX-License-Identifier: MIT
/* The timeline's JSON format: points turned into records (time order, deltas, optional fields),
 * written by the one writer and read back by the one reader to the same records. */
#include <stdlib.h>

#include "util/common.h"
#include "profile/timeline.h"
#include "profile/timeline_json.h"
#include "test.h"

TEST(timeline_json_write_read_round_trip)
{
	/* Out of time order, as GC events arrive after later drain points. Rate 1: exact. */
	static const struct timeline_point pts[] = {
	    {.kind = TIMELINE_INTERVAL,
	     .time_ns = 3000,
	     .totals = {.alloc_cnt = 10, .alloc_bytes = 10000, .free_cnt = 4, .free_bytes = 3000},
	     .rss_bytes = 81920,
	     .anon_bytes = 40960},
	    {.kind = TIMELINE_GC,
	     .cycle = 1,
	     .time_ns = 1000,
	     .gc_start_ns = 900,
	     .totals = {.alloc_cnt = 4, .alloc_bytes = 4000}},
	    {.kind = TIMELINE_GC,
	     .cycle = 2,
	     .time_ns = 2000,
	     .totals = {.alloc_cnt = 6, .alloc_bytes = 7000, .free_cnt = 1, .free_bytes = 500}},
	};
	struct timeline tl = {.pid = 77, .rate = 1, .cycles = 2};
	struct timeline_doc doc = {}, back = {};
	char err[128] = "", *json = NULL;

	snprintf(tl.exe, sizeof(tl.exe), "/srv/a \"b\" <c>");
	snprintf(tl.go_version, sizeof(tl.go_version), "go1.21.0");
	for (size_t i = 0; i < ARRAY_SIZE(pts); i++)
		if (!ASSERT_OK(timeline__add(&tl, &pts[i]), "add"))
			goto cleanup;
	if (!ASSERT_OK(timeline__to_doc(&tl, &doc), "to_doc") || !ASSERT_EQ(doc.cnt, 3, "records"))
		goto cleanup;
	ASSERT_TRUE(doc.recs[0].is_gc && doc.recs[0].time_ns == 1000, "time order");
	ASSERT_TRUE(doc.recs[0].has_gc_duration && doc.recs[0].gc_duration_ns == 100,
		    "gc duration from its start");
	ASSERT_TRUE(!doc.recs[1].has_gc_duration && doc.recs[1].has_cycle, "no start, no duration");
	ASSERT_EQ(doc.recs[1].alloc_bytes, 3000, "alloc delta");
	ASSERT_EQ(doc.recs[1].freed_objects, 1, "freed delta");
	ASSERT_EQ(doc.recs[2].inuse_bytes, 7000, "in use level");
	ASSERT_TRUE(!doc.recs[2].is_gc && !doc.recs[2].has_cycle && doc.recs[2].has_rss,
		    "interval: rss, no cycle");

	json = timeline__to_json(&tl);
	if (!ASSERT_OK_PTR(json, "to_json"))
		goto cleanup;
	if (!ASSERT_OK(timeline_doc__parse(&back, json, strlen(json), err, sizeof(err)), err))
		goto cleanup;
	ASSERT_EQ(back.pid, 77, "pid");
	ASSERT_STREQ(back.exe, tl.exe, "executable");
	ASSERT_STREQ(back.go_version, "go1.21.0", "go version");
	ASSERT_EQ(back.sampling_rate, 1, "rate");
	ASSERT_EQ(back.gc_cycles, 2, "cycles");
	if (ASSERT_EQ(back.cnt, doc.cnt, "count"))
		ASSERT_TRUE(!memcmp(back.recs, doc.recs, doc.cnt * sizeof(*doc.recs)),
			    "the same records read back");
	free(json);
	json = timeline_doc__to_json(&back);
	if (ASSERT_OK_PTR(json, "written again")) {
		char *first = timeline__to_json(&tl);

		ASSERT_STREQ(json, first ?: "", "one writer: the same text");
		free(first);
	}
cleanup:
	free(json);
	timeline_doc__release(&back);
	timeline_doc__release(&doc);
	timeline__free(&tl);
}

TEST(timeline_json_no_go_version)
{
	struct timeline tl = {.pid = 5, .rate = 524288};
	struct timeline_doc back = {};
	char *json = timeline__to_json(&tl);

	if (!ASSERT_OK_PTR(json, "to_json"))
		return;
	ASSERT_TRUE(!strstr(json, "go_version"), "no go_version for a C program");
	if (ASSERT_OK(timeline_doc__parse(&back, json, strlen(json), NULL, 0), "parse"))
		ASSERT_TRUE(back.go_version == NULL && back.cnt == 0 && !strcmp(back.exe, ""),
			    "empty timeline");
	timeline_doc__release(&back);
	free(json);
}

TEST(timeline_parse_errors)
{
	static const struct {
		const char *json;
		const char *reason;
	} bad[] = {
	    {"not json", "not JSON"},
	    {"{\"pid\": 1, \"records\": [", "not JSON"},
	    {"[1, 2]", "no \"records\""},
	    {"{\"records\": []}", "no \"pid\""},
	    {"{\"pid\": 1, \"records\": [{\"type\": \"gc\"}]}", "records[0]: no \"time_unix_ns\""},
	    {"{\"pid\": 1, \"records\": [{\"type\": \"boom\"}]}", "records[0]: type \"boom\""},
	    {"{\"pid\": 1, \"records\": [{\"type\": \"gc\", \"time_unix_ns\": 1, \"alloc_bytes\": "
	     "-5, \"freed_bytes\": 0, \"inuse_bytes\": 0}]}",
	     "\"alloc_bytes\" is not a non-negative integer"},
	    {"{\"pid\": 1, \"executable\": 5, \"records\": []}", "\"executable\" is not a string"},
	};
	struct timeline_doc doc;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char err[128] = "";

		ASSERT_EQ(
		    timeline_doc__parse(&doc, bad[i].json, strlen(bad[i].json), err, sizeof(err)),
		    -EBADMSG, bad[i].json);
		ASSERT_TRUE(strstr(err, bad[i].reason) != NULL, err);
		ASSERT_TRUE(doc.recs == NULL && doc.exe == NULL, "nothing left allocated");
	}
	if (ASSERT_OK(timeline_doc__parse(&doc, "{\"pid\": 7, \"records\": []}", 25, NULL, 0),
		      "minimal"))
		ASSERT_EQ(doc.cnt, 0, "no records");
	timeline_doc__release(&doc);
}
