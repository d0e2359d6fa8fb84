# SPDX-License-Identifier: MIT
"""Containers for real (make test-containers, after make image): the image run as README
documents it, profiling a C target and a Go target that each run in a podman container of their
own; and the DaemonSet's pod template played by podman. Run: python3 tests/e2e/containers.py"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pprof_raw
from harness import BUILD, check, check_eq, fail, skip_dep, test

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
IMAGE = os.environ.get("IMAGE", "allocscope:latest")
BASE = "debian:bookworm"
TARGETS = os.path.join(os.path.abspath(BUILD), "tests", "targets")
# podman under runc with ulimits this host's hard limits allow (deploy/image.mk says why).
PODMAN = ["podman", "--runtime", "runc"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
# The capabilities README and deploy/allocscoped.service list, and no others.
CAPS = ["BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH", "SYS_ADMIN"]


def podman(*args, timeout=300):
    r = subprocess.run(PODMAN + list(args), capture_output=True, text=True, timeout=timeout)
    if r.returncode:
        raise RuntimeError("podman %s: %s" % (" ".join(args[:3]), r.stderr.strip()[-500:]))
    return r.stdout.strip()


def have_image(name):
    return subprocess.run(["podman", "image", "exists", name]).returncode == 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def host_pid(cid):
    return int(podman("inspect", "-f", "{{.State.Pid}}", cid))


def target(*cmd):
    """A target in a container of its own (default namespaces, cgroup namespace included),
    its binary bind-mounted read-only from the build."""
    return podman("run", "-d", "--rm", *LIMITS, "-v", TARGETS + ":/t:ro", BASE, *cmd)


class ImageDaemon:
    """The image run as README documents it: the host's PID namespace, the listed capabilities
    only, a read-only root, the BTF and cgroup mounts, the token mounted; and a cgroup
    namespace of its own, as every container gets on a cgroup v2 node."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="allocscope-image-")
        self.token = "t0k3n-" + os.urandom(8).hex()
        with open(os.path.join(self.dir, "token"), "w") as f:
            f.write(self.token + "\n")
        self.port = free_port()
        caps = [a for c in CAPS for a in ("--cap-add", c)]
        self.cid = podman(
            "run", "-d", *LIMITS, "--pid=host", "--cgroupns=private", "--cap-drop=ALL", *caps,
            "--security-opt", "apparmor=unconfined", "--read-only",
            "-v", "/sys/kernel/btf:/sys/kernel/btf:ro", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro",
            "-v", self.dir + ":/etc/allocscope:ro", "-p", "127.0.0.1:%d:6464" % self.port,
            IMAGE, "--listen", "0.0.0.0:6464", "--auth-token-file", "/etc/allocscope/token",
            *args)
        self.base = "http://127.0.0.1:%d" % self.port

    def get(self, path, timeout=30):
        req = urllib.request.Request(self.base + path,
                                     headers={"Authorization": "Bearer " + self.token})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (urllib.error.URLError, ConnectionError):
            return 0, b""

    def wait_healthy(self, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.get("/healthz")[0] == 200:
                return True
            if podman("inspect", "-f", "{{.State.Running}}", self.cid) != "true":
                break
            time.sleep(0.5)
        return False

    def profile(self, path):
        status, body = self.get(path)
        if status != 200:
            raise RuntimeError("GET %s: %d %s" % (path, status, body[:200]))
        f = tempfile.NamedTemporaryFile(suffix=".pb.gz", delete=False, dir=self.dir)
        f.write(body)
        f.close()
        return pprof_raw.read(f.name)

    def logs(self):
        return subprocess.run(["podman", "logs", self.cid], capture_output=True,
                              text=True).stderr[-3000:]

    def stop(self):
        subprocess.run(["podman", "rm", "-f", "-t", "5", self.cid], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def functions(profile, index=None):
    """Bytes per function name over every frame of every sample (alloc_space)."""
    i = profile.index("alloc_space")
    out = {}
    for s in profile.samples:
        for fn in set(s["stack"]):
            out[fn] = out.get(fn, 0) + s["values"][i]
    return out


def metric_labels(text, name):
    """The label sets of every series of one metric."""
    out = []
    for line in text.splitlines():
        m = re.match(r"%s\{([^}]*)\} " % re.escape(name), line)
        if m:
            out.append(dict(re.findall(r'(\w+)="([^"]*)"', m.group(1))))
    return out


def wait_profile(d, query, want, timeout=90):
    """The profile of query once every function of want shows in it (or the last one)."""
    deadline = time.time() + timeout
    prof = None
    while time.time() < deadline:
        status, _ = d.get("/debug/pprof/allocs?" + query)
        if status == 200:
            prof = d.profile("/debug/pprof/allocs?" + query)
            if all(functions(prof).get(w, 0) > 0 for w in want):
                return prof
        time.sleep(1)
    return prof


def preflight():
    if not shutil.which("podman"):
        return skip_dep("podman is not installed (deploy/setup-debian.sh installs it)")
    for img, how in ((IMAGE, "make image"), (BASE, "deploy/base-image.sh podman")):
        if not have_image(img):
            return skip_dep("no image %s (%s makes it)" % (img, how))
    return None


@test
def containers_image_profiles_containerized_targets():
    """The image profiles, by cgroup= and by container, a C and a Go target each in a container
    of its own; their samples and /metrics carry the container runtime's own IDs."""
    pre = preflight()
    if pre is not None:
        return pre
    ok = True
    cids, d = [], None
    try:
        c_cid = target("/t/topload", "600")
        go_cid = target("/t/go/gostress", "-batches", "100000000")
        cids = [c_cid, go_cid]
        # Watch the runtime's containers by cgroup: podman puts them below /libpod_parent
        # (cgroupfs) or machine.slice (systemd); the daemon sees them from its own namespace.
        parent = re.match(r"\d+:[^:]*:(/.*)/[^/]*$",
                          open("/proc/%d/cgroup" % host_pid(c_cid)).read().splitlines()[-1])
        d = ImageDaemon("--cgroup", parent.group(1), "--interval", "1")
        if not d.wait_healthy():
            return fail("the image's daemon never answered /healthz:\n" + d.logs())
        for cid, name, want in ((c_cid, "C", ["alloc_big_blocks", "alloc_small_objects"]),
                                (go_cid, "Go", ["main.deep"])):
            path = open("/proc/%d/cgroup" % host_pid(cid)).read()
            cg = re.search(r"^0::(/.*)$", path, re.M) or re.search(r":(/.*)$", path, re.M)
            for query in ("cgroup=" + cg.group(1), "container=" + cid[:12]):
                prof = wait_profile(d, query, want)
                if prof is None:
                    ok &= fail("%s target: no profile for %s:\n%s" % (name, query, d.logs()))
                    continue
                fns = functions(prof)
                for w in want:
                    ok &= check(fns.get(w, 0) > 0, "%s target, %s: %s allocates: %r" %
                                (name, query, w, sorted(fns, key=fns.get)[-8:]))
                ids = {s["labels"].get("container_id") for s in prof.samples}
                ok &= check_eq(ids, {cid}, "%s target, %s: container_id labels" % (name, query))
                pids = {int(s["labels"]["pid"]) for s in prof.samples}
                ok &= check_eq(pids, {host_pid(cid)}, "%s target, %s: its pid only" % (name, query))
        status, body = d.get("/metrics")
        ok &= check_eq(status, 200, "/metrics")
        series = metric_labels(body.decode(), "allocscope_alloc_bytes_total")
        ok &= check_eq({s.get("container_id") for s in series}, set(cids),
                       "/metrics container_id labels")
        status, _ = d.get("/debug/pprof/allocs?cgroup=" + parent.group(1) + "x")
        ok &= check_eq(status, 404, "a cgroup prefix matches whole components only")
    finally:
        if d:
            d.stop()
        for cid in cids:
            subprocess.run(["podman", "rm", "-f", "-t", "1", cid], capture_output=True)
    return ok
