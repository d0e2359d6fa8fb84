# SPDX-License-Identifier: MIT
"""deploy/: `make install` (layout, modes, the unit's ExecStart), the systemd unit (verify, its
hardening, whether its capability set and system call filter really let allocscope attach), the
Kubernetes manifests and the Containerfile (static: no container engine or cluster here)."""
import os
import re
import select
import shlex
import shutil
import subprocess
import tempfile
import time

import expected
import pprof_raw
from harness import BUILD, check, check_eq, skip, skip_dep, test

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")
UNIT = os.path.join(DEPLOY, "allocscoped.service")
CONTAINERFILE = os.path.join(DEPLOY, "Containerfile")
MANIFEST = os.path.join(DEPLOY, "kubernetes", "allocscope.yaml")
ALLOCSCOPE = os.path.join(BUILD, "allocscope")
PATTERN = os.path.join(BUILD, "tests", "targets", "alloc_pattern")

# What allocscoped needs (deploy/allocscoped.service says why for each).
CAPS = {"BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH", "SYS_ADMIN"}


def make_install(*args):
    """`make install`, through the top-level Makefile once it includes deploy/install.mk."""
    with open(os.path.join(ROOT, "Makefile")) as f:
        included = re.search(r"^\s*-?include\s+deploy/install\.mk\s*$", f.read(), re.M)
    cmd = ["make", "-s", "-C", ROOT]
    if not included:
        print("    note: Makefile does not include deploy/install.mk yet; using -f", flush=True)
        cmd += ["-f", "Makefile", "-f", "deploy/install.mk"]
    return subprocess.run(cmd + ["install", "OUT=" + BUILD, *args], capture_output=True,
                          text=True, timeout=600)


def unit_keys(path):
    """{(section, key): [values]} of a unit file; continuation lines are joined."""
    keys = {}
    section = None
    with open(path) as f:
        text = re.sub(r"\\\n", " ", f.read())
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        k, _, v = line.partition("=")
        keys.setdefault((section, k.strip()), []).append(v.strip())
    return keys


def unit_caps(keys, key):
    return {c[len("CAP_"):] for v in keys.get(("Service", key), []) for c in v.split()}


@test
def deploy_install_layout():
    """DESTDIR and PREFIX=/usr: binaries to bin and sbin (0755), the preloadable sampler to
    lib/allocscope (0644), the unit (0644) with ExecStart
    at the installed daemon and otherwise byte for byte deploy/'s; default PREFIX /usr/local."""
    ok = True
    for prefix, args in (("/usr", ["PREFIX=/usr"]), ("/usr/local", [])):
        dest = tempfile.mkdtemp(prefix="allocscope-install-")
        r = make_install("DESTDIR=" + dest, *args)
        if not check_eq(r.returncode, 0, "make install %s (%s)" % (args, r.stderr.strip())):
            return False
        want = {
            prefix + "/bin/allocscope": (0o755, os.path.join(BUILD, "allocscope")),
            prefix + "/sbin/allocscoped": (0o755, os.path.join(BUILD, "allocscoped")),
            prefix + "/lib/allocscope/liballocscope_sampler.so":
                (0o644, os.path.join(BUILD, "liballocscope_sampler.so")),
            prefix + "/lib/systemd/system/allocscoped.service": (0o644, None),
            prefix + "/share/man/man1/allocscope.1": (0o644, os.path.join(BUILD, "allocscope.1")),
            prefix + "/share/man/man8/allocscoped.8": (0o644, os.path.join(BUILD, "allocscoped.8")),
            prefix + "/share/bash-completion/completions/allocscope": (0o644, "cli/allocscope.bash"),
        }
        got = set()
        for d, _, files in os.walk(dest):
            got |= {os.path.join(d, f)[len(dest):] for f in files
                    if not os.path.islink(os.path.join(d, f))}
        link = dest + prefix + "/share/bash-completion/completions/allocscoped"
        ok &= check(os.path.islink(link) and os.readlink(link) == "allocscope",
                    "allocscoped's completion links to allocscope's")
        ok &= check_eq(got, set(want), "files installed under DESTDIR for PREFIX=%s" % prefix)
        for path, (mode, src) in want.items():
            full = dest + path
            if not os.path.exists(full):
                continue
            ok &= check_eq(oct(os.stat(full).st_mode & 0o7777), oct(mode), "mode of " + path)
            if src:
                with open(full, "rb") as a, open(src, "rb") as b:
                    ok &= check(a.read() == b.read(), "%s is not %s" % (path, src))
        unit = dest + prefix + "/lib/systemd/system/allocscoped.service"
        with open(unit) as f:
            installed = f.read().splitlines()
        with open(UNIT) as f:
            source = f.read().splitlines()
        execs = [l for l in installed if l.startswith("ExecStart=")]
        ok &= check_eq(execs, ["ExecStart=%s/sbin/allocscoped $ALLOCSCOPED_ARGS" % prefix],
                       "installed ExecStart")
        ok &= check_eq([l for l in installed if not l.startswith("ExecStart=")],
                       [l for l in source if not l.startswith("ExecStart=")],
                       "installed unit apart from ExecStart")
        shutil.rmtree(dest)
    return ok


@test
def deploy_unit_verifies():
    """Installed with a real PREFIX (so ExecStart exists), the unit passes systemd-analyze
    verify without a warning (verify exits 0 on unknown keys, so stderr must be empty too), and
    `systemd-analyze security` rates it no worse than the level it was written to."""
    if not shutil.which("systemd-analyze"):
        return skip_dep("systemd-analyze is not installed (apt-get install systemd)")
    prefix = tempfile.mkdtemp(prefix="allocscope-prefix-")
    r = make_install("PREFIX=" + prefix)
    if not check_eq(r.returncode, 0, "make install PREFIX=%s (%s)" % (prefix, r.stderr.strip())):
        return False
    unit = os.path.join(prefix, "lib", "systemd", "system", "allocscoped.service")
    r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                       timeout=60)
    ok = check_eq(r.returncode, 0, "systemd-analyze verify exit status (%s)" % r.stderr.strip())
    ok &= check_eq(r.stderr.strip(), "", "systemd-analyze verify warnings")
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", unit],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    if check(m, "no exposure level from systemd-analyze security: %s" % r.stderr.strip()):
        ok &= check(float(m.group(1)) <= 3.5, "exposure level %s > 3.5" % m.group(1))
    else:
        ok = False
    shutil.rmtree(prefix)
    return ok


@test
def deploy_unit_hardening():
    """The hardening keys the unit promises, and capabilities limited to what the daemon needs."""
    keys = unit_keys(UNIT)
    ok = True
    want = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "read-only",
        "PrivateTmp": "yes", "ProtectKernelTunables": "yes", "ProtectControlGroups": "yes",
        "ProtectKernelModules": "yes", "PrivateDevices": "yes", "RestrictNamespaces": "yes",
        "LockPersonality": "yes", "SystemCallArchitectures": "native",
        "MemoryDenyWriteExecute": "yes", "Restart": "on-failure", "MemoryMax": "256M",
    }
    for k, v in want.items():
        ok &= check_eq(keys.get(("Service", k)), [v], k)
    ok &= check(keys.get(("Service", "RestartSec")), "RestartSec is not set")
    ok &= check_eq(set(" ".join(keys.get(("Service", "RestrictAddressFamilies"), [])).split()),
                   {"AF_INET", "AF_INET6", "AF_UNIX"}, "RestrictAddressFamilies")
    ok &= check_eq(unit_caps(keys, "CapabilityBoundingSet"), CAPS, "CapabilityBoundingSet")
    ok &= check_eq(unit_caps(keys, "AmbientCapabilities"), CAPS, "AmbientCapabilities")
    ok &= check(("Service", "User") not in keys and ("Service", "DynamicUser") not in keys,
                "the unit runs as root with bounded capabilities: no User=/DynamicUser=")
    ok &= check_eq(keys.get(("Install", "WantedBy")), ["multi-user.target"], "WantedBy")
    return ok


def start_target(path):
    target = subprocess.Popen([path, "--wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    line = target.stdout.readline()
    if "ready" not in line:
        target.kill()
        raise RuntimeError("%s --wait printed %r" % (path, line))
    return target


def finish_target(target):
    for _ in range(2):  # once to allocate, once to exit
        target.stdin.write("go\n")
        target.stdin.flush()
        target.stdout.readline()
    target.wait(timeout=30)


def wait_stderr(proc, needle, timeout=30):
    """Reads proc's stderr until a line has needle: (True, text read) or, if proc ends or the
    time runs out first, (False, text read)."""
    seen = ""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if select.select([proc.stderr], [], [], 0.2)[0]:
            line = proc.stderr.readline()
            if not line:
                break
            seen += line
            if needle in line:
                return True, seen
    return False, seen


def run_record_on_target(argv, target):
    """Starts a `record --pid` command line, lets the target run its pattern and exit, and
    returns (exit status, stderr); the recorder is killed if it never starts recording."""
    rec = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        started, seen = wait_stderr(rec, "recording pid")
        if not started:
            rec.kill()
            rec.wait()
            return None, seen
        finish_target(target)
        _, err = rec.communicate(timeout=120)
        return rec.returncode, seen + err
    finally:
        if target.poll() is None:
            target.kill()
            target.wait()


@test
def deploy_unit_caps_and_protecthome_suffice():
    """allocscope, holding only the unit's capabilities (uid 0, bounding set cut to them), in a
    mount namespace where the target's directory is read-only as ProtectHome=read-only makes
    /home, records a running process by pid: its exact pattern, with the target's own functions
    symbolized by allocscope itself (pprof -symbolize=none: pprof would otherwise fill in names
    from the binary on its own)."""
    if not shutil.which("setpriv") or not shutil.which("unshare"):
        return skip_dep("setpriv/unshare (util-linux) missing")
    caps = ",".join("+" + c.lower() for c in sorted(unit_caps(unit_keys(UNIT),
                                                              "CapabilityBoundingSet")))
    work = tempfile.mkdtemp(prefix="allocscope-caps-")
    home = os.path.join(work, "home")
    os.makedirs(home)
    target_bin = os.path.join(home, "alloc_pattern")
    shutil.copy(PATTERN, target_bin)
    prof = os.path.join(work, "caps.pb.gz")  # outside the read-only directory
    target = start_target(target_bin)
    script = ("mount --bind {d} {d} && mount -o remount,bind,ro {d} && "
              "exec setpriv --inh-caps=-all,{c} --bounding-set=-all,{c} -- "
              "{a} record --rate 1 --pid {p} -o {o}").format(
                  d=shlex.quote(home), c=caps, a=shlex.quote(ALLOCSCOPE), p=target.pid,
                  o=shlex.quote(prof))
    rc, err = run_record_on_target(["unshare", "--mount", "--propagation", "private", "sh",
                                    "-c", script], target)
    if not check_eq(rc, 0, "record with only %s (%s)" % (caps, err.strip())):
        shutil.rmtree(work)
        return False
    r = pprof_raw.pprof("-raw", "-symbolize=none", prof)
    shutil.rmtree(work)
    if not check_eq(r.returncode, 0, "go tool pprof -raw (%s)" % r.stderr.strip()):
        return False
    sites = expected.by_site(pprof_raw.parse(r.stdout))
    ok = True
    for key, want in expected.PATTERN.items():
        ok &= check_eq(sites.get(key), want, "%s via %s (alloc n, bytes, inuse n, bytes)" % key)
    return ok


# uretprobe(2) (x86-64 number 335, which strace 6.1 prints as syscall_0x14f) is made by the
# kernel's return-probe trampoline whenever a probed function returns in this process (a uprobe
# on libc is in every mapping of the file until its filter says otherwise), never by allocscope's
# code; the kernel lets it through seccomp ("seccomp: passthrough uretprobe systemcall without
# filtering", 2025), so no filter entry is needed for it.
KERNEL_ISSUED = {"uretprobe", "syscall_0x14f"}


def syscall_groups():
    """{'@group': set of names and sub-groups} from `systemd-analyze syscall-filter`."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True,
                         timeout=60).stdout
    groups, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = groups.setdefault(line.split()[0], set())
        elif cur is not None and line.strip() and not line.strip().startswith("#"):
            cur.add(line.split()[0])
    return groups


def expand(names, groups):
    out = set()
    for n in names:
        if n.startswith("@"):
            out |= expand(groups.get(n, ()), groups)
        else:
            out.add(n)
    return out


@test
def deploy_unit_syscall_filter_allows_attach():
    """Every system call allocscope makes to load, attach, read /proc and symbolize a running
    process (under strace) is in the unit's SystemCallFilter: both ways of attaching, uprobe_multi
    links (bpf() only, kernels 6.6+) and perf-event uprobes (perf_event_open(), older kernels;
    forced here with ALLOCSCOPE_UPROBE_MULTI=0)."""
    if not shutil.which("strace") or not shutil.which("systemd-analyze"):
        return skip_dep("strace or systemd-analyze missing")
    keys = unit_keys(UNIT)
    allowed = expand(" ".join(keys.get(("Service", "SystemCallFilter"), [])).split(),
                     syscall_groups())
    if not check(len(allowed) > 100, "SystemCallFilter expands to %d calls" % len(allowed)):
        return False
    ok = True
    for multi, calls in (("1", {"bpf"}), ("0", {"bpf", "perf_event_open"})):
        used = strace_record(multi)
        if used is None:
            return False
        ok &= check(calls <= used, "ALLOCSCOPE_UPROBE_MULTI=%s: strace saw no %s: %s"
                    % (multi, "/".join(sorted(calls)), sorted(used)))
        ok &= check_eq(sorted(used - allowed - KERNEL_ISSUED), [],
                       "ALLOCSCOPE_UPROBE_MULTI=%s: system calls outside SystemCallFilter"
                       % multi)
    return ok


def strace_record(multi):
    """The system calls `allocscope record --pid` makes on alloc_pattern under strace, with
    ALLOCSCOPE_UPROBE_MULTI=multi; None (after a failed check) when record failed."""
    trace = tempfile.mktemp(prefix="allocscope-strace-")
    prof = tempfile.mktemp(prefix="allocscope-strace-", suffix=".pb.gz")
    target = start_target(PATTERN)
    # LeakSanitizer cannot run under ptrace (make test-asan): leak checks off for this one run.
    saved = os.environ.get("ASAN_OPTIONS")
    os.environ["ASAN_OPTIONS"] = (saved or "") + ":detect_leaks=0"
    os.environ["ALLOCSCOPE_UPROBE_MULTI"] = multi
    try:
        rc, err = run_record_on_target(["strace", "-f", "-qq", "-o", trace, ALLOCSCOPE, "record",
                                        "--rate", "1", "--pid", str(target.pid), "-o", prof],
                                       target)
    finally:
        del os.environ["ALLOCSCOPE_UPROBE_MULTI"]
        if saved is None:
            del os.environ["ASAN_OPTIONS"]
        else:
            os.environ["ASAN_OPTIONS"] = saved
    if not check_eq(rc, 0, "record under strace, ALLOCSCOPE_UPROBE_MULTI=%s (%s)"
                    % (multi, err.strip())):
        return None
    used = set()
    with open(trace) as f:
        for line in f:
            m = re.match(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]", line)
            if m and m.group(1) not in ("exit", "resumed", "killed"):
                used.add(m.group(1))
    os.unlink(trace)
    if os.path.exists(prof):
        os.unlink(prof)
    return used


def load_manifests():
    import yaml  # python3-yaml, from deploy/setup-debian.sh
    with open(MANIFEST) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


@test
def deploy_kubernetes_manifests():
    """The manifests parse, and the DaemonSet has hostPID, capabilities (all dropped, the
    daemon's added), a read-only root, no privilege escalation, limits, /healthz probes, the
    Prometheus annotations, read-only host mounts, tolerations; the other objects agree with it."""
    docs = load_manifests()
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), []).append(d)
    ok = check_eq(sorted(by_kind), ["DaemonSet", "Namespace", "NetworkPolicy", "Service",
                                    "ServiceAccount"], "kinds")
    ns = by_kind["Namespace"][0]["metadata"]["name"]
    for d in docs:
        ok &= check(d.get("apiVersion") and d.get("metadata", {}).get("name"),
                    "%s without apiVersion or name" % d.get("kind"))
        if d["kind"] != "Namespace":
            ok &= check_eq(d["metadata"].get("namespace"), ns, "namespace of " + d["kind"])
    ds = by_kind["DaemonSet"][0]
    tmpl = ds["spec"]["template"]
    labels = tmpl["metadata"]["labels"]
    ok &= check(ds["spec"]["selector"]["matchLabels"].items() <= labels.items(),
                "DaemonSet selector does not match its pod labels")
    pod = tmpl["spec"]
    ok &= check_eq(pod.get("hostPID"), True, "hostPID")
    ok &= check(not pod.get("hostNetwork"), "hostNetwork would bypass the NetworkPolicy")
    ok &= check_eq(pod.get("serviceAccountName"),
                   by_kind["ServiceAccount"][0]["metadata"]["name"], "serviceAccountName")
    ok &= check({"operator": "Exists"} in pod.get("tolerations", []),
                "no toleration that runs it on every node")
    ann = tmpl["metadata"].get("annotations", {})
    ok &= check(all(isinstance(v, str) for v in ann.values()),
                "annotation values must be strings: %r" % ann)
    ok &= check_eq((ann.get("prometheus.io/scrape"), ann.get("prometheus.io/port"),
                    ann.get("prometheus.io/path")), ("true", "6464", "/metrics"),
                   "prometheus.io annotations")
    c = pod["containers"][0]
    sc = c.get("securityContext", {})
    ok &= check_eq(sc.get("capabilities", {}).get("drop"), ["ALL"], "capabilities.drop")
    ok &= check_eq(set(sc.get("capabilities", {}).get("add", [])), CAPS, "capabilities.add")
    ok &= check_eq(sc.get("readOnlyRootFilesystem"), True, "readOnlyRootFilesystem")
    ok &= check_eq(sc.get("allowPrivilegeEscalation"), False, "allowPrivilegeEscalation")
    ok &= check(not sc.get("privileged"), "privileged")
    limits = c.get("resources", {}).get("limits", {})
    ok &= check("memory" in limits and "cpu" in limits, "resources.limits: %r" % limits)
    ok &= check("memory" in c.get("resources", {}).get("requests", {}), "no memory request")
    port = c["ports"][0]["containerPort"]
    ok &= check_eq(port, 6464, "containerPort")
    for probe in ("livenessProbe", "readinessProbe"):
        ok &= check_eq(c.get(probe, {}).get("httpGet"), {"path": "/healthz", "port": port},
                       probe + ".httpGet")
    args = c.get("args", [])
    ok &= check("--all-go" in args, "--all-go not in args %r" % args)
    ok &= check_eq(args[args.index("--listen") + 1] if "--listen" in args else None,
                   "0.0.0.0:%d" % port, "--listen")
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    host = {vols[n]["hostPath"]["path"]: m for n, m in mounts.items()
            if "hostPath" in vols.get(n, {})}
    ok &= check_eq(sorted(host), ["/sys/fs/cgroup", "/sys/kernel/btf", "/sys/kernel/tracing"], "hostPath volumes")
    ok &= check(all(m.get("readOnly") is True for m in host.values()),
                "hostPath mounts must be read-only")
    if "--auth-token-file" in args:
        token = args[args.index("--auth-token-file") + 1]
        secret_mounts = [m for n, m in mounts.items() if "secret" in vols.get(n, {})]
        ok &= check(any(token.startswith(m["mountPath"].rstrip("/") + "/") and m.get("readOnly")
                        for m in secret_mounts),
                    "%s is not on a read-only Secret mount" % token)
    else:
        ok &= check("--insecure" in args, "--listen beyond loopback needs a token or --insecure")
    svc = by_kind["Service"][0]["spec"]
    ok &= check_eq(svc.get("clusterIP"), "None", "Service is headless")
    ok &= check(svc["selector"].items() <= labels.items(), "Service selector matches no pod")
    ok &= check_eq([p["port"] for p in svc["ports"]], [port], "Service port")
    np = by_kind["NetworkPolicy"][0]["spec"]
    ok &= check(np["podSelector"]["matchLabels"].items() <= labels.items(),
                "NetworkPolicy selects no allocscope pod")
    ok &= check_eq([p["port"] for r in np["ingress"] for p in r["ports"]], [port],
                   "NetworkPolicy port")
    return ok


def containerfile_instructions():
    """[(INSTRUCTION, argument text)] with continuation lines joined and comments dropped."""
    with open(CONTAINERFILE) as f:
        lines = [l for l in f.read().splitlines() if not l.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(l.split(None, 1)[0].upper(), l.split(None, 1)[1] if " " in l.strip() else "")
            for l in (x.strip() for x in text.splitlines()) if l]


@test
def deploy_containerfile():
    """Two stages: Debian 12 (bookworm) builds, the runtime is scratch with only what the build
    stage's deploy/image-rootfs.sh collected, nothing fetched from the network outside apt,
    exec-form ENTRYPOINT at a copied binary, the default arguments authenticated."""
    ins = containerfile_instructions()
    froms = [a.split() for k, a in ins if k == "FROM"]
    ok = check_eq([f[0] for f in froms], ["debian:bookworm", "scratch"], "FROM images")
    ok &= check(len(froms[0]) == 3 and froms[0][1].upper() == "AS", "build stage not named")
    stage = froms[0][2] if len(froms[0]) == 3 else None
    copies = [a.split() for k, a in ins if k == "COPY" and a.startswith("--from=")]
    ok &= check(copies and all(c[0] == "--from=" + str(stage) for c in copies),
                "runtime COPY --from the build stage: %r" % copies)
    for k, a in ins:
        ok &= check(not (k == "ADD" and re.search(r"https?://", a)), "ADD of a URL: " + a)
        ok &= check(not re.search(r"(curl|wget)[^|]*\|\s*(ba|da)?sh", a), "pipe to a shell: " + a)
        if k == "RUN" and "apt-get install" in a:
            ok &= check("--no-install-recommends" in a, "apt-get install with recommends: " + a)
            ok &= check("rm -rf /var/lib/apt/lists" in a, "apt lists left in a layer: " + a)
    ok &= check(any(k == "RUN" and "setup-debian.sh" in a for k, a in ins),
                "build stage does not use deploy/setup-debian.sh")
    entry = [a for k, a in ins if k == "ENTRYPOINT"]
    ok &= check_eq(entry, ['["/usr/local/sbin/allocscoped"]'], "ENTRYPOINT (exec form)")
    ok &= check_eq([c[1:] for c in copies], [["/rootfs/", "/"]], "the runtime is the rootfs")
    ok &= check(any(k == "RUN" and "image-rootfs.sh /rootfs" in a for k, a in ins),
                "the build stage makes /rootfs with deploy/image-rootfs.sh")
    with open(os.path.join(DEPLOY, "image-rootfs.sh")) as f:
        ok &= check('"$dest/usr/local/sbin/allocscoped"' in f.read(),
                    "image-rootfs.sh puts the daemon where ENTRYPOINT runs it")
    cmd = [a for k, a in ins if k == "CMD"]
    ok &= check(cmd and ("--auth-token-file" in cmd[0] or "--insecure" in cmd[0]),
                "CMD listens beyond loopback without a token or --insecure: %r" % cmd)
    user = [a for k, a in ins if k == "USER"]
    ok &= check(user in ([], ["0:0"], ["root"]), "USER %r: BPF needs root" % user)
    return ok


@test
def deploy_image_rootfs_runs_both_binaries():
    """deploy/image-rootfs.sh, which makes the runtime image's whole file system, collects every
    library the two binaries load: both run chrooted into what it made, and nothing else is
    there (no shell)."""
    if not shutil.which("ldd") or not shutil.which("chroot"):
        return skip_dep("ldd or chroot missing (libc-bin, coreutils)")
    if "-fsanitize" in os.environ.get("EXTRA_CFLAGS", ""):
        # make test-asan: sanitizer runtimes read /proc/self/maps at start, which a rootfs of
        # the two binaries and their libraries does not have; the image holds the plain build.
        return skip("sanitizer builds cannot start without /proc; the image is the plain build")
    dest = tempfile.mkdtemp(prefix="allocscope-rootfs-")
    try:
        r = subprocess.run([os.path.join(DEPLOY, "image-rootfs.sh"), dest,
                            os.path.join(BUILD, "allocscoped"), os.path.join(BUILD, "allocscope")],
                           capture_output=True, text=True, timeout=60)
        ok = check_eq(r.returncode, 0, "image-rootfs.sh: " + r.stderr)
        for b in ("/usr/local/sbin/allocscoped", "/usr/local/bin/allocscope"):
            r = subprocess.run(["chroot", dest, b, "--help"], capture_output=True, text=True,
                               timeout=30)
            ok &= check(r.returncode == 0 and "Usage" in r.stdout,
                        "%s --help in the rootfs: %d %s" % (b, r.returncode, r.stderr[-300:]))
        ok &= check(not os.path.exists(os.path.join(dest, "bin", "sh")), "no shell in the image")
        size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(dest)
                   for f in fs if not os.path.islink(os.path.join(dp, f)))
        print("    rootfs: %.1f MB" % (size / 1e6), flush=True)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    return ok


@test
def deploy_capabilities_agree():
    """The unit, the DaemonSet and the Containerfile's `docker run` example grant the same
    capabilities, and the token path agrees between the image's CMD and the DaemonSet."""
    unit = unit_caps(unit_keys(UNIT), "CapabilityBoundingSet")
    c = [d for d in load_manifests() if d["kind"] == "DaemonSet"][0]
    c = c["spec"]["template"]["spec"]["containers"][0]
    with open(CONTAINERFILE) as f:
        text = f.read()
    run = set(re.findall(r"--cap-add=([A-Z_]+)", text))
    ok = check_eq(set(c["securityContext"]["capabilities"]["add"]), unit, "DaemonSet vs unit")
    ok &= check_eq(run, unit, "Containerfile docker run example vs unit")
    cmd = [a for k, a in containerfile_instructions() if k == "CMD"][0]
    m = re.search(r'"--auth-token-file",\s*"([^"]+)"', cmd)
    args = c["args"]
    if m and "--auth-token-file" in args:
        ok &= check_eq(args[args.index("--auth-token-file") + 1], m.group(1), "token path")
    return ok


@test
def deploy_manifests_validate_against_kubernetes_schema():
    """Every document of deploy/kubernetes/allocscope.yaml validates against the Kubernetes
    OpenAPI schema (kubernetes-models from npm, pinned in tests/e2e/k8s), and a manifest with one
    wrongly typed field does not: the validator is real."""
    if not shutil.which("node") or not shutil.which("npm"):
        return skip_dep("node and npm are missing (the machine's Node.js)")
    src = os.path.join(ROOT, "tests", "e2e", "k8s")
    work = os.path.join(BUILD, "k8s-validate")
    os.makedirs(work, exist_ok=True)
    for f in ("package.json", "package-lock.json", "validate.mjs"):
        shutil.copy(os.path.join(src, f), work)
    if not os.path.isdir(os.path.join(work, "node_modules", "kubernetes-models")):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=work,
                           capture_output=True, text=True, timeout=300)
        if r.returncode:
            return check(False, "npm ci: " + r.stderr[-500:])
    r = subprocess.run(["node", "validate.mjs", MANIFEST], cwd=work, capture_output=True,
                       text=True, timeout=60)
    ok = check_eq(r.returncode, 0, "validation of %s:\n%s%s" % (MANIFEST, r.stdout, r.stderr))
    ok &= check(r.stdout.count("ok ") == 5, "five documents validated: " + r.stdout)
    with open(MANIFEST) as f:
        broken = f.read().replace("readOnlyRootFilesystem: true", 'readOnlyRootFilesystem: "yes"')
    bad = os.path.join(work, "broken.yaml")
    with open(bad, "w") as f:
        f.write(broken)
    r = subprocess.run(["node", "validate.mjs", bad], cwd=work, capture_output=True, text=True,
                       timeout=60)
    ok &= check(r.returncode == 1 and "readOnlyRootFilesystem must be boolean" in r.stdout,
                "a wrongly typed field is rejected: " + r.stdout)
    return ok
