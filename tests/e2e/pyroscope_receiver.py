# SPDX-License-Identifier: MIT
"""A stand-in for Grafana Pyroscope's HTTP /ingest (no Pyroscope server can be installed here),
applying the acceptance rules its source states (grafana/pyroscope):
- multi-tenant: a request without the configured X-Scope-OrgID is refused (401);
- the body is gzipped or plain pprof, refused (400) when it does not parse (pprof.RawFromBytes);
- pprof.Profile.Normalize: number labels are dropped, a sample with any negative value is
  dropped, a sample whose values are all zero is dropped;
- distributor.extractSampleSeries: the string labels of samples split a profile into series,
  merged with the series labels of the name parameter (app name -> service_name).
It can also hang, answer 500 or reset connections, to test a push that cannot stall."""
import base64
import gzip
import http.server
import socket
import struct
import threading
import time
import urllib.parse


def _varint(b, i):
    v = shift = 0
    while True:
        if i >= len(b):
            raise ValueError("truncated varint")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i
        if shift > 63:
            raise ValueError("varint too long")


def _fields(b):
    """(field number, value) of a protobuf message: ints for varints, bytes for the rest."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            if i + n > len(b):
                raise ValueError("truncated field")
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = struct.unpack_from("<q", b, i)[0], i + 8
        elif wt == 5:
            v, i = struct.unpack_from("<i", b, i)[0], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield f, v


def _ints(v, signed=False):
    """A repeated integer field, packed (bytes) or not (int)."""
    out = []
    if isinstance(v, int):
        out = [v]
    else:
        i = 0
        while i < len(v):
            x, i = _varint(v, i)
            out.append(x)
    if signed:
        out = [x - (1 << 64) if x >= 1 << 63 else x for x in out]
    return out


def parse_profile(raw):
    """A pprof profile (gzipped or not) as a dict; ValueError when it does not parse."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError("gzip: %s" % e)
    p = {"sample_types": [], "samples": [], "strings": [], "locations": {}, "functions": {},
         "time_nanos": 0, "duration_nanos": 0}
    raw_samples = []
    for f, v in _fields(raw):
        if f == 1:
            st = dict(_fields(v))
            p["sample_types"].append((st.get(1, 0), st.get(2, 0)))
        elif f == 2:
            s = {"locs": [], "values": [], "labels": []}
            for sf, sv in _fields(v):
                if sf == 1:
                    s["locs"] += _ints(sv)
                elif sf == 2:
                    s["values"] += _ints(sv, signed=True)
                elif sf == 3:
                    s["labels"].append(dict(_fields(sv)))
            raw_samples.append(s)
        elif f == 4:
            loc = {"lines": []}
            for lf, lv in _fields(v):
                if lf == 1:
                    loc["id"] = lv
                elif lf == 4:
                    loc["lines"].append(dict(_fields(lv)).get(1, 0))
            p["locations"][loc.get("id", 0)] = loc["lines"]
        elif f == 5:
            fn = dict(_fields(v))
            p["functions"][fn.get(1, 0)] = fn.get(2, 0)
        elif f == 6:
            p["strings"].append(v.decode())
        elif f == 9:
            p["time_nanos"] = v
        elif f == 10:
            p["duration_nanos"] = v
    strings = p["strings"]
    if not strings or strings[0] != "":
        raise ValueError("string_table[0] must be empty")

    def s(i):
        if not 0 <= i < len(strings):
            raise ValueError("string index %d out of range" % i)
        return strings[i]

    p["sample_types"] = [(s(t), s(u)) for t, u in p["sample_types"]]
    for smp in raw_samples:
        if len(smp["values"]) != len(p["sample_types"]):
            raise ValueError("a sample has %d values for %d types" % (
                len(smp["values"]), len(p["sample_types"])))
        stack = []
        for lid in smp["locs"]:
            if lid not in p["locations"]:
                raise ValueError("location %d unknown" % lid)
            stack += [s(p["functions"].get(fid, 0)) for fid in p["locations"][lid]]
        p["samples"].append({
            "values": smp["values"], "stack": stack,
            # Normalize: "Non-string labels are not supported" (those with str == 0 go).
            "labels": {s(l.get(1, 0)): s(l.get(2, 0)) for l in smp["labels"] if l.get(2, 0)},
        })
    return p


def parse_name(name):
    """'app{k=v,...}' -> (app, {k: v})."""
    app, _, rest = name.partition("{")
    labels = {}
    for kv in rest.rstrip("}").split(","):
        if kv:
            k, _, v = kv.partition("=")
            labels[k] = v
    return app, labels


class Receiver:
    """mode: "accept", "hang" (until the mode changes), "500" or "reset"."""

    def __init__(self, tenant=None, basic=None, bearer=None):
        self.tenant, self.basic, self.bearer = tenant, basic, bearer
        self.mode = "accept"
        self.lock = threading.Lock()
        self.requests = 0
        self.refused = []  # (status, why)
        self.accepted = []  # dicts: series, labels, from, until, profile, authorization
        self.negative_dropped = 0
        self.zero_dropped = 0
        rcv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                rcv._post(self)

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_port
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def url(self, userinfo=""):
        return "http://%s127.0.0.1:%d" % (userinfo + "@" if userinfo else "", self.port)

    def stop(self):
        self.mode = "accept"
        self.srv.shutdown()

    def _answer(self, h, status, why=""):
        if status != 200:
            with self.lock:
                self.refused.append((status, why))
        try:
            h.send_response(status)
            h.send_header("Content-Length", str(len(why)))
            h.end_headers()
            h.wfile.write(why.encode())
        except OSError:
            pass

    def _post(self, h):
        with self.lock:
            self.requests += 1
        body = h.rfile.read(int(h.headers.get("Content-Length", 0)))
        mode = self.mode
        if mode == "hang":
            while self.mode == "hang":
                time.sleep(0.05)
            h.close_connection = True
            return
        if mode == "reset":
            # SO_LINGER 0: close() sends RST.
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
            h.close_connection = True
            h.connection.close()
            return
        if mode == "500":
            return self._answer(h, 500, "ingester unavailable")
        if self.tenant is not None and h.headers.get("X-Scope-OrgID") != self.tenant:
            return self._answer(h, 401, "no org id")
        auth = h.headers.get("Authorization", "")
        if self.basic is not None and auth != "Basic " + base64.b64encode(
                self.basic.encode()).decode():
            return self._answer(h, 401, "bad basic auth")
        if self.bearer is not None and auth != "Bearer " + self.bearer:
            return self._answer(h, 401, "bad bearer token")
        u = urllib.parse.urlparse(h.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path != "/ingest" or q.get("format") != ["pprof"] or "name" not in q:
            return self._answer(h, 400, "not an ingest request")
        try:
            prof = parse_profile(body)
        except (ValueError, UnicodeDecodeError, struct.error) as e:
            return self._answer(h, 400, "cannot parse pprof: %s" % e)
        app, labels = parse_name(q["name"][0])
        kept = []
        for s in prof["samples"]:
            if any(v < 0 for v in s["values"]):
                self.negative_dropped += 1
            elif not any(v > 0 for v in s["values"]):
                self.zero_dropped += 1
            else:
                kept.append(s)
        prof["samples"] = kept
        # One series per distinct set of string sample labels, series labels first.
        series = {}
        for s in kept:
            lab = dict(s["labels"])
            lab.update(labels)
            lab["service_name"] = labels.get("service_name", app)
            series.setdefault(tuple(sorted(lab.items())), []).append(s)
        if not series:
            series[tuple(sorted(dict(labels, service_name=app).items()))] = []
        with self.lock:
            for key in series:
                self.accepted.append({
                    "series": key, "app": app, "labels": labels,
                    "from": int(q["from"][0]), "until": int(q["until"][0]),
                    "samples": series[key], "types": [t for t, _ in prof["sample_types"]],
                    "time_nanos": prof["time_nanos"], "duration_nanos": prof["duration_nanos"],
                    "body": body,
                })
        self._answer(h, 200)

    def wait(self, cond, timeout=60, what="the receiver's state"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if cond(self):
                    return True
            time.sleep(0.1)
        return False


def total(entry, type_name, site=None):
    """The sum of one sample type over an accepted series' samples (those whose stack holds
    site, if given)."""
    i = entry["types"].index(type_name)
    return sum(s["values"][i] for s in entry["samples"] if site is None or site in s["stack"])
