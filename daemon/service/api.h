/* SPDX-License-Identifier: MIT */
/* The answers to allocscoped's HTTP API (struct httpd_ops): profiles of the targets a query
 * selects, over their whole life or a seconds= window of history; timelines; /metrics; the
 * target list. Each takes the state's lock; ctx is the daemon's struct scoped. */
#ifndef ALLOCSCOPE_API_H
#define ALLOCSCOPE_API_H

#include "service/httpd.h"

extern const struct httpd_ops scoped_api_ops;

#endif
