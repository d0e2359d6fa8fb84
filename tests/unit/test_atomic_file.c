// SPDX-License-Identifier: MIT
/* The atomic writer: content replaced whole with mode 0644, and a failing writer leaves the old
 * file and no temporary one. (pprof's tests cover the missing directory and rename failures.) */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/atomic_file.h"
#include "test.h"

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int fill_half_then_fail(void *ctx, FILE *f)
{
	fputs(ctx, f);
	return -ENOSPC;
}

static int fill_text(void *ctx, FILE *f)
{
	return fputs(ctx, f) == EOF ? -EIO : 0;
}

TEST(atomic_file_replace_and_fail)
{
	char dir[] = "/tmp/allocscope-atomic.XXXXXX", path[64], buf[64] = "";
	struct stat st;
	FILE *f;

	if (!ASSERT_OK_PTR(mkdtemp(dir), "mkdtemp"))
		return;
	snprintf(path, sizeof(path), "%s/out.txt", dir);
	if (!ASSERT_OK(atomic_file__write(path, "first\n", 6), "write") ||
	    !ASSERT_OK(stat(path, &st), "stat"))
		goto cleanup;
	ASSERT_EQ(st.st_mode & 0777, 0644, "mode");
	ASSERT_EQ(st.st_size, 6, "size");
	ASSERT_EQ(atomic_file__write_with(path, fill_half_then_fail, "second, half"), -ENOSPC,
		  "the writer's error");
	ASSERT_EQ(entries(dir), 1, "no temporary file left");
	ASSERT_OK(atomic_file__write_with(path, fill_text, "third\n"), "write with");
	f = fopen(path, "r");
	if (ASSERT_OK_PTR(f, "open")) {
		ASSERT_TRUE(fgets(buf, sizeof(buf), f) != NULL, "read");
		fclose(f);
	}
	ASSERT_STREQ(buf, "third\n", "replaced whole");
	ASSERT_EQ(atomic_file__write("", "x", 1), -EINVAL, "empty path");
cleanup:
	unlink(path);
	rmdir(dir);
}
