// SPDX-License-Identifier: MIT
/* cgroup paths as Docker, containerd, CRI-O and the kubelet write them. */
#include "service/cgroup.h"
#include "test.h"

TEST(cgroup_containerd_pod)
{
	struct cgroup_info ci;
	const char *text =
	    "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b4e2f1c_8d6a_4c3e_"
	    "9f0a_2b7c6d5e4f3a.slice/cri-containerd-"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope\n";

	if (!ASSERT_OK(cgroup__parse(text, &ci), "parse"))
		return;
	ASSERT_STREQ(ci.container_id,
		     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		     "container id");
	ASSERT_STREQ(ci.pod_uid, "1b4e2f1c-8d6a-4c3e-9f0a-2b7c6d5e4f3a", "pod uid");
}

TEST(cgroup_docker_v1_and_host)
{
	struct cgroup_info ci;

	if (!ASSERT_OK(
		cgroup__parse("12:memory:/docker/"
			      "fedcba9876543210fedcba9876543210fedcba9876543210fedcba98765432"
			      "10\n1:name=systemd:/docker/x\n",
			      &ci),
		"v1"))
		return;
	ASSERT_STREQ(ci.container_id,
		     "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
		     "docker id");
	ASSERT_STREQ(ci.pod_uid, "", "no pod");
	if (!ASSERT_OK(cgroup__parse("0::/user.slice/user-0.slice/session-1.scope\n", &ci), "host"))
		return;
	ASSERT_STREQ(ci.path, "/user.slice/user-0.slice/session-1.scope", "path");
	ASSERT_STREQ(ci.container_id, "", "no container on the host");
	ASSERT_EQ(cgroup__parse("garbage", &ci), -EINVAL, "garbage");
	ASSERT_EQ(cgroup__parse("", &ci), -EINVAL, "empty");
}
