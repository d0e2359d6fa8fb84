# SPDX-License-Identifier: MIT
# `make image [IMAGE=allocscope:latest]`: deploy/Containerfile built with podman or docker,
# whichever is installed (podman first). Included from the top-level Makefile.
#
# podman runs the build under runc: on hosts with hybrid cgroups (v1 controllers with cgroup2
# beside them, as on the machines this was written on) crun refuses to start containers, and
# runc works on both. The ulimits fit hosts whose hard limits are below podman's defaults.

IMAGE ?= allocscope:latest
CONTAINER_ENGINE ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || \
	(command -v docker >/dev/null 2>&1 && echo docker))
ifeq ($(notdir $(CONTAINER_ENGINE)),podman)
IMAGE_BUILD_FLAGS ?= --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
	--ignorefile deploy/Containerfile.dockerignore
endif

image:
	@if [ -z "$(CONTAINER_ENGINE)" ]; then \
		echo "make image: neither podman nor docker is installed" >&2; exit 1; fi
	$(Q)./deploy/base-image.sh $(CONTAINER_ENGINE)
	$(call msg,IMAGE,$(IMAGE))
	$(Q)$(CONTAINER_ENGINE) build $(IMAGE_BUILD_FLAGS) -f deploy/Containerfile -t $(IMAGE) .
	@$(CONTAINER_ENGINE) image inspect $(IMAGE) --format '{{.Size}}' | \
		awk '{ printf "image: $(IMAGE), %.1f MB\n", $$1 / 1e6 }'

.PHONY: image

# The container tests: the image run as documented against containerized targets, and the
# DaemonSet's pod (tests/e2e/test_containers.py). Apart from `make test`: they take minutes.
test-containers: image all
	$(Q)ALLOCSCOPE_BUILD=$(abspath $(OUT)) python3 tests/e2e/containers.py

.PHONY: test-containers
