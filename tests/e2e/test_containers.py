# SPDX-License-Identifier: MIT
"""Containers for real (make test-containers, after make image): the image run as README
documents it, profiling a C target and a Go target that each run in a podman container of their
own; and the DaemonSet's pod template played by podman. Run: python3 tests/e2e/containers.py"""
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pprof_raw
from harness import BUILD, check, check_eq, fail, free_port, skip_dep, test

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


def k8s_quantity_bytes(q):
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "K": 10**3, "M": 10**6, "G": 10**9}
    for u, m in units.items():
        if q.endswith(u):
            return int(float(q[:-len(u)]) * m)
    return int(q)


class PodFromManifest:
    """The DaemonSet's pod template from deploy/kubernetes/allocscope.yaml, run by podman.

    `podman kube play` (4.3, Debian 12's) cannot run it: it ignores hostPID (the pod gets a
    PID namespace of its own and sees no other process) and crashes on secret volumes (a nil
    secrets manager in VolumeFromSecret). So the test reads the template and runs its one
    container with the flags each field means, and fails on any field it does not know, so
    that a change to the manifest cannot go untested. Node-level fields that have no meaning
    on one host (tolerations, priority class, service account) are listed as such."""

    IGNORED_POD = {"serviceAccountName", "automountServiceAccountToken", "tolerations",
                   "priorityClassName"}

    def __init__(self, manifest, extra_args=()):
        import yaml  # python3-yaml: deploy/setup-debian.sh
        with open(manifest) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        ds = [d for d in docs if d["kind"] == "DaemonSet"][0]
        tmpl = ds["spec"]["template"]
        spec = tmpl["spec"]
        self.dir = tempfile.mkdtemp(prefix="allocscope-pod-")
        self.token = os.urandom(16).hex()
        self.unknown = []
        args = ["run", "-d", *LIMITS, "--cgroupns=private"]
        ann = tmpl["metadata"].get("annotations", {})
        for key, val in spec.items():
            if key in self.IGNORED_POD or key in ("containers", "volumes"):
                continue
            if key == "hostPID" and val is True:
                args.append("--pid=host")
            elif key == "terminationGracePeriodSeconds":
                args += ["--stop-timeout", str(val)]
            else:
                self.unknown.append("spec." + key)
        (c,) = spec["containers"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for key, val in c.items():
            if key in ("name", "imagePullPolicy"):
                continue
            if key == "image":
                image = IMAGE if val == "allocscope:latest" else val
            elif key == "args":
                cargs = list(val)
            elif key == "ports":
                (p,) = val
                self.port = free_port()
                args += ["-p", "127.0.0.1:%d:%d" % (self.port, p["containerPort"])]
            elif key == "securityContext":
                args += self.security(val, ann.get(
                    "container.apparmor.security.beta.kubernetes.io/" + c["name"]))
            elif key == "resources":
                lim = val.get("limits", {})
                if "memory" in lim:
                    args += ["--memory", str(k8s_quantity_bytes(lim["memory"]))]
                if "cpu" in lim:
                    cpu = lim["cpu"]
                    args += ["--cpus", str(int(cpu[:-1]) / 1000 if cpu.endswith("m") else cpu)]
            elif key in ("livenessProbe", "readinessProbe"):
                self.health = val["httpGet"]["path"]
            elif key == "volumeMounts":
                for m in val:
                    args += ["-v", self.volume(volumes[m["name"]], m)]
            else:
                self.unknown.append("containers[0]." + key)
        self.base = "http://127.0.0.1:%d" % self.port
        self.cid = podman(*args, image, *cargs, *extra_args)

    def security(self, sc, apparmor):
        out = []
        for key, val in sc.items():
            if key == "runAsUser":
                out += ["--user", str(val)]
            elif key in ("runAsNonRoot", "privileged") and val is False:
                pass
            elif key == "allowPrivilegeEscalation" and val is False:
                out += ["--security-opt", "no-new-privileges"]
            elif key == "readOnlyRootFilesystem" and val is True:
                out.append("--read-only")
            elif key == "capabilities":
                out += ["--cap-drop=" + d for d in val.get("drop", [])]
                out += ["--cap-add=" + a for a in val.get("add", [])]
            elif key == "seccompProfile" and val.get("type") == "RuntimeDefault":
                pass  # podman's default seccomp profile
            elif key == "appArmorProfile" and val.get("type") == "Unconfined":
                out += ["--security-opt", "apparmor=unconfined"]
            else:
                self.unknown.append("securityContext." + key)
        if apparmor not in (None, "unconfined"):
            self.unknown.append("apparmor annotation " + apparmor)
        return out

    def volume(self, v, m):
        ro = ":ro" if m.get("readOnly") else ""
        if "hostPath" in v:
            return "%s:%s%s" % (v["hostPath"]["path"], m["mountPath"], ro)
        if "secret" in v:
            # The Secret the README tells users to create: one key, "token".
            d = os.path.join(self.dir, v["name"])
            os.makedirs(d)
            for item in v["secret"].get("items", [{"key": "token", "path": "token"}]):
                path = os.path.join(d, item["path"])
                with open(path, "w") as f:
                    f.write(self.token if item["key"] == "token" else "")
                os.chmod(path, v["secret"].get("defaultMode", 0o644))
            return "%s:%s%s" % (d, m["mountPath"], ro)
        self.unknown.append("volume " + v["name"])
        return "/nonexistent:" + m["mountPath"]

    get = ImageDaemon.get
    wait_healthy = ImageDaemon.wait_healthy
    profile = ImageDaemon.profile
    logs = ImageDaemon.logs
    stop = ImageDaemon.stop


@test
def containers_daemonset_pod_runs():
    """The DaemonSet's pod, run from deploy/kubernetes/allocscope.yaml with its own arguments
    (--all-go), its capabilities, read-only root, mounts, token and 256Mi memory limit: it
    answers its probes' /healthz, /metrics, and a profile of a Go target in a container."""
    pre = preflight()
    if pre is not None:
        return pre
    ok = True
    pod, cids = None, []
    try:
        go_cid = target("/t/go/gostress", "-batches", "100000000")
        cids = [go_cid]
        pod = PodFromManifest(os.path.join(ROOT, "deploy", "kubernetes", "allocscope.yaml"),
                              ["--interval", "1"])
        ok &= check_eq(pod.unknown, [], "manifest fields the test cannot run")
        if not pod.wait_healthy():
            return fail("the pod never answered /healthz:\n" + pod.logs())
        status, body = pod.get(pod.health)
        ok &= check_eq(status, 200, "the probes' path " + pod.health)
        prof = wait_profile(pod, "container=" + go_cid, ["main.deep"])
        ok &= check(prof is not None and functions(prof).get("main.deep", 0) > 0,
                    "the Go target's main.deep in its profile:\n" + pod.logs())
        if prof is not None:
            ok &= check_eq({s["labels"].get("container_id") for s in prof.samples}, {go_cid},
                           "container_id labels")
        status, body = pod.get("/metrics")
        ok &= check_eq(status, 200, "/metrics")
        series = metric_labels(body.decode(), "allocscope_alloc_bytes_total")
        ok &= check(go_cid in {s.get("container_id") for s in series},
                    "/metrics has the Go target's container")
        req = urllib.request.Request(pod.base + "/metrics")
        try:
            urllib.request.urlopen(req, timeout=10)
            ok &= fail("/metrics answered without the token")
        except urllib.error.HTTPError as e:
            ok &= check_eq(e.code, 401, "/metrics without the token")
    finally:
        if pod:
            pod.stop()
        for cid in cids:
            subprocess.run(["podman", "rm", "-f", "-t", "1", cid], capture_output=True)
    return ok
