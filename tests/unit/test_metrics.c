// SPDX-License-Identifier: MIT
/* The /metrics text from given values: per-target lines with escaped labels and unsampled
 * estimates, drop counters by reason, map fill, daemon counters, unwind metrics only with CFI. */
#include <stdlib.h>

#include "service/metrics.h"
#include "test.h"

static char *render(const struct metrics_input *in)
{
	size_t size = 0;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, &size);

	if (!ASSERT_OK_PTR(f, "open_memstream"))
		return NULL;
	ASSERT_OK(metrics__write(f, in), "write");
	fclose(f);
	return buf;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return test__fail(__FILE__, __LINE__, "no line \"%s\"", line);
}

TEST(metrics_targets_and_counters)
{
	const struct metrics_target targets[] = {
	    {
		.pid = 4242,
		.exe = "/opt/a \"b\"\\c\nd",
		.comm = "checkout",
		.container_id = "0123abcd",
		.rate = 1,
		.tot = {.alloc_cnt = 10, .alloc_bytes = 1000, .free_cnt = 4, .free_bytes = 300},
	    },
	    {
		/* A Go target sampled at 1 KiB: one 1 KiB sample is 1/(1 - e^-1) of itself. */
		.pid = 7,
		.exe = "/usr/bin/gofix",
		.comm = "gofix",
		.container_id = "",
		.go = 1,
		.gc_cycles = 12,
		.rate = 1024,
		.tot = {.alloc_cnt = 1, .alloc_bytes = 1024, .free_cnt = 3, .free_bytes = 4096},
	    },
	};
	const struct metrics_map maps[] = {
	    {.name = "stats", .entries = 17, .capacity = 1024},
	    {.name = "live", .entries = -2, .capacity = 99},
	};
	struct metrics_input in = {
	    .targets = targets,
	    .target_cnt = 2,
	    .maps = maps,
	    .map_cnt = 2,
	    .probes_attached = 9,
	    .drains = 5,
	    .drain_ns_total = 2500000,
	    .drain_ns_last = 1000,
	    .snapshots_dropped = 3,
	    .exited_dropped = 4,
	    .attach_failures = 1,
	    .pushes = 6,
	    .push_failures = 2,
	    .rss_bytes = 123456,
	};
	char *text;

	in.counters[ALLOC_CNT_SAMPLED] = 77;
	in.counters[ALLOC_CNT_STACK_LOST] = 8;
	in.counters[ALLOC_CNT_MORESTACK] = 5;
	text = render(&in);
	if (!text)
		return;
	has_line(text,
		 "allocscope_alloc_bytes_total{pid=\"4242\",executable=\"/opt/a \\\"b\\\"\\\\c"
		 "\\nd\",comm=\"checkout\",container_id=\"0123abcd\"} 1000");
	has_line(text,
		 "allocscope_inuse_objects{pid=\"4242\",executable=\"/opt/a \\\"b\\\"\\\\c\\nd"
		 "\",comm=\"checkout\",container_id=\"0123abcd\"} 6");
	has_line(text,
		 "allocscope_inuse_bytes{pid=\"4242\",executable=\"/opt/a \\\"b\\\"\\\\c\\nd\","
		 "comm=\"checkout\",container_id=\"0123abcd\"} 700");
	ASSERT_TRUE(!strstr(text, "allocscope_gc_cycles_total{pid=\"4242\""), "no GC for native");
	has_line(text, "allocscope_alloc_bytes_total{pid=\"7\",executable=\"/usr/bin/gofix\","
		       "comm=\"gofix\"} 1619");
	has_line(text, "allocscope_alloc_objects_total{pid=\"7\",executable=\"/usr/bin/gofix\","
		       "comm=\"gofix\"} 1");
	/* More freed than allocated (sampled apart): in use is 0, not negative. */
	has_line(text, "allocscope_inuse_bytes{pid=\"7\",executable=\"/usr/bin/gofix\","
		       "comm=\"gofix\"} 0");
	has_line(
	    text,
	    "allocscope_gc_cycles_total{pid=\"7\",executable=\"/usr/bin/gofix\",comm=\"gofix\"} "
	    "12");
	has_line(text, "allocscope_events_dropped_total{reason=\"stack_lost\"} 8");
	has_line(text, "allocscope_events_dropped_total{reason=\"stats_map_full\"} 0");
	ASSERT_TRUE(!strstr(text, "reason=\"sampled\"") && !strstr(text, "} 5\n"),
		    "samples and morestack are not drops");
	has_line(text, "allocscope_samples_total 77");
	has_line(text, "allocscope_bpf_map_entries{map=\"stats\"} 17");
	has_line(text, "allocscope_bpf_map_capacity{map=\"stats\"} 1024");
	ASSERT_TRUE(!strstr(text, "map=\"live\""), "a map whose fill is unknown is left out");
	has_line(text, "allocscope_targets 2");
	has_line(text, "allocscope_probes_attached 9");
	has_line(text, "allocscope_drains_total 5");
	has_line(text, "allocscope_drain_seconds_total 0.002500");
	has_line(text, "allocscope_last_drain_seconds 0.000001");
	has_line(text, "allocscope_history_snapshots_dropped_total 3");
	has_line(text, "allocscope_exited_targets_dropped_total 4");
	has_line(text, "allocscope_attach_failures_total 1");
	has_line(text, "allocscope_pushes_total 6");
	has_line(text, "allocscope_push_failures_total 2");
	has_line(text, "allocscope_daemon_rss_bytes 123456");
	has_line(text, "# TYPE allocscope_inuse_bytes gauge");
	has_line(text, "# TYPE allocscope_alloc_bytes_total counter");
	ASSERT_TRUE(!strstr(text, "allocscope_unwind_"), "no unwind metrics without CFI");
	free(text);
}

TEST(metrics_unwind_only_with_cfi)
{
	struct unwind_stats us = {.events = 40, .truncated = 3, .unwind_ns = 1500000000};
	struct metrics_input in = {.unwind = &us};
	char *text = render(&in);

	if (!text)
		return;
	has_line(text, "allocscope_unwind_events_total 40");
	has_line(text, "allocscope_unwind_truncated_total 3");
	has_line(text, "allocscope_unwind_seconds_total 1.500000");
	has_line(text, "allocscope_targets 0");
	ASSERT_TRUE(!strstr(text, "{pid="), "no targets, no per-target lines");
	free(text);
}
