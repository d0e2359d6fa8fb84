// SPDX-License-Identifier: MIT
/* cgroup paths as each runtime and driver writes them (see daemon/service/cgroup.c for the
 * sources), seen from the host and from a cgroup namespace, and the namespace root found in a
 * fixture tree built by the test. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/cgroup.h"
#include "test.h"

#define ID64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define UID  "1b4e2f1c-8d6a-4c3e-9f0a-2b7c6d5e4f3a"
#define UID_ "1b4e2f1c_8d6a_4c3e_9f0a_2b7c6d5e4f3a"

static void expect(const char *text, const char *ns_root, const char *path, const char *cid,
		   const char *pod)
{
	struct cgroup_info ci;

	if (!ASSERT_OK(cgroup__parse(text, ns_root, &ci), text))
		return;
	ASSERT_STREQ(ci.path, path, text);
	ASSERT_STREQ(ci.container_id, cid, text);
	ASSERT_STREQ(ci.pod_uid, pod, text);
}

TEST(cgroup_every_layout)
{
	/* containerd under the kubelet, systemd driver (cgroup v2). */
	expect("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	       ".slice/cri-containerd-" ID64 ".scope\n",
	       NULL,
	       "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	       ".slice/cri-containerd-" ID64 ".scope",
	       ID64, UID);
	/* containerd under the kubelet, cgroupfs driver, guaranteed QoS (no QoS level). */
	expect("0::/kubepods/pod" UID "/" ID64 "\n", NULL, "/kubepods/pod" UID "/" ID64, ID64, UID);
	/* CRI-O, systemd driver, besteffort; and cgroupfs. */
	expect("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	       ".slice/crio-" ID64 ".scope\n",
	       NULL,
	       "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	       ".slice/crio-" ID64 ".scope",
	       ID64, UID);
	expect("0::/kubepods/besteffort/pod" UID "/crio-" ID64 "\n", NULL,
	       "/kubepods/besteffort/pod" UID "/crio-" ID64, ID64, UID);
	/* docker: cgroupfs on v1, systemd on v2. */
	expect("12:memory:/docker/" ID64 "\n1:name=systemd:/docker/" ID64 "\n", NULL,
	       "/docker/" ID64, ID64, "");
	expect("0::/system.slice/docker-" ID64 ".scope\n", NULL,
	       "/system.slice/docker-" ID64 ".scope", ID64, "");
	/* podman: cgroupfs on this machine's hybrid v1 (every line alike), systemd on v2. */
	expect("9:name=systemd:/libpod_parent/libpod-" ID64 "\n4:memory:/libpod_parent/libpod-" ID64
	       "\n0::/libpod_parent/libpod-" ID64 "\n",
	       NULL, "/libpod_parent/libpod-" ID64, ID64, "");
	expect("0::/machine.slice/libpod-" ID64 ".scope/container\n", NULL,
	       "/machine.slice/libpod-" ID64 ".scope/container", ID64, "");
	/* conmon, the monitor beside a podman or CRI-O container, is not the container. */
	expect("0::/machine.slice/libpod-conmon-" ID64 ".scope\n", NULL,
	       "/machine.slice/libpod-conmon-" ID64 ".scope", "", "");
	/* A hybrid host whose runtime uses v1 controllers: the unified line says "/". */
	expect("4:memory:/docker/" ID64 "\n0::/\n", NULL, "/", ID64, "");
	/* The host itself. */
	expect("0::/user.slice/user-0.slice/session-1.scope\n", NULL,
	       "/user.slice/user-0.slice/session-1.scope", "", "");
}

TEST(cgroup_namespaced_paths)
{
	/* Read from a daemon whose namespace is rooted at /libpod_parent/libpod-<its id>: a
	 * sibling container shows as "/../libpod-<id>", the host's init as "/../..". */
	expect("0::/../libpod-" ID64 "\n", "/libpod_parent/libpod-aaaa",
	       "/libpod_parent/libpod-" ID64, ID64, "");
	expect("0::/../..\n", "/libpod_parent/libpod-aaaa", "/", "", "");
	expect("0::/child\n", "/kubepods/pod" UID "/" ID64, "/kubepods/pod" UID "/" ID64 "/child",
	       ID64, UID);
	/* Without the root, what climbs above the namespace is dropped: the IDs survive. */
	expect("0::/../../kubepods/pod" UID "/" ID64 "\n", NULL, "/kubepods/pod" UID "/" ID64, ID64,
	       UID);
	expect("0::/a/./b/../c\n", "", "/a/c", "", "");
}

TEST(cgroup_bad_text)
{
	struct cgroup_info ci;

	ASSERT_EQ(cgroup__parse("garbage", NULL, &ci), -EINVAL, "garbage");
	ASSERT_EQ(cgroup__parse("", NULL, &ci), -EINVAL, "empty");
	ASSERT_EQ(cgroup__parse("0::relative\n", NULL, &ci), -EINVAL, "a path must be absolute");
	/* Almost a pod UID: one digit short, or a dash out of place. */
	expect("0::/kubepods/pod1b4e2f1c-8d6a-4c3e-9f0a-2b7c6d5e4f3\n", NULL,
	       "/kubepods/pod1b4e2f1c-8d6a-4c3e-9f0a-2b7c6d5e4f3", "", "");
	expect("0::/kubepods/pod1b4e2f1c8-d6a-4c3e-9f0a-2b7c6d5e4f3a\n", NULL,
	       "/kubepods/pod1b4e2f1c8-d6a-4c3e-9f0a-2b7c6d5e4f3a", "", "");
	/* 65 hex digits are not an ID. */
	expect("0::/docker/0" ID64 "\n", NULL, "/docker/0" ID64, "", "");
}

TEST(cgroup_prefix_by_components)
{
	ASSERT_TRUE(cgroup__path_under("/kubepods/pod1", "/kubepods/pod1"), "itself");
	ASSERT_TRUE(cgroup__path_under("/kubepods/pod1/x", "/kubepods/pod1"), "below");
	ASSERT_TRUE(cgroup__path_under("/kubepods/pod1/x", "/kubepods/pod1/"), "trailing slash");
	ASSERT_TRUE(!cgroup__path_under("/kubepods/pod12", "/kubepods/pod1"), "a longer name");
	ASSERT_TRUE(!cgroup__path_under("/kube", "/kubepods"), "shorter");
	ASSERT_TRUE(cgroup__path_under("/anything", "/"), "/ holds everything");
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

TEST(cgroup_ns_root_found_in_the_host_hierarchy)
{
	char base[] = "/tmp/allocscope-cgns-XXXXXX", root[CGROUP_PATH_MAX], cmd[1024];
	char proc[64], sys[64], d[256];

	if (!ASSERT_TRUE(mkdtemp(base) != NULL, "mkdtemp"))
		return;
	snprintf(proc, sizeof(proc), "%s/proc", base);
	snprintf(sys, sizeof(sys), "%s/sys", base);
	/* A hybrid host as here: cgroup v2 beside v1 at "unified"; the daemon (pid 4242) in
	 * /libpod_parent/libpod-<id> with a namespace of its own rooted there; a decoy with the
	 * same depth that does not hold it. */
	snprintf(d, sizeof(d), "%s/1", proc);
	mkdir(proc, 0755);
	mkdir(d, 0755);
	write_file(d, "cgroup", "9:name=systemd:/../..\n0::/../..\n");
	snprintf(d, sizeof(d), "%s/4242", proc);
	mkdir(d, 0755);
	write_file(d, "cgroup", "9:name=systemd:/\n0::/\n");
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s/unified/libpod_parent/libpod-" ID64 " %s/unified/"
		 "libpod_parent/decoy",
		 sys, sys);
	if (!ASSERT_EQ(system(cmd), 0, cmd))
		goto cleanup;
	snprintf(d, sizeof(d), "%s/unified/libpod_parent/decoy", sys);
	write_file(d, "cgroup.procs", "17\n");
	snprintf(d, sizeof(d), "%s/unified/libpod_parent/libpod-" ID64, sys);
	write_file(d, "cgroup.procs", "1\n4242\n");
	ASSERT_OK(cgroup__ns_root(proc, sys, 4242, root, sizeof(root)), "found");
	ASSERT_STREQ(root, "/libpod_parent/libpod-" ID64, "the namespace's root");
	/* Not listed anywhere: not found, and nothing is added to paths. */
	ASSERT_EQ(cgroup__ns_root(proc, sys, 999, root, sizeof(root)), -ENOENT, "elsewhere");
	ASSERT_STREQ(root, "", "no root");
	/* The host's own namespace: init at "/". */
	snprintf(d, sizeof(d), "%s/1", proc);
	write_file(d, "cgroup", "0::/init.scope\n");
	ASSERT_OK(cgroup__ns_root(proc, sys, 4242, root, sizeof(root)), "host");
	ASSERT_STREQ(root, "", "the host's namespace adds nothing");
cleanup:
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	if (system(cmd))
		test__fail(__FILE__, __LINE__, "cannot remove %s", base);
}
