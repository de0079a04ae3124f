#!/usr/bin/env python3
"""Delivery-engine benchmarks (issue 4), each against real processes on loopback:

  ceiling   10,000 installed recipients at Teams' 50 RPS with per-conversation limits on:
            time against the 200 s floor, the busiest second the emulator received, 429s.
            --faults adds 5 % injected 502/503/504 and 1 % held requests.
  engine    100,000 installed recipients, every limit off: deliveries/s from accept to
            completed, and the server's peak RSS.
  cold      10,000 recipients with no reference and ifNotInstalled=install: Graph + connector
            calls per recipient, then a second notification to the same people.
  crash     kill -9 the server three times during a 10,000-recipient send, restart it each
            time: every recipient delivered; duplicates counted from the emulator's transcripts.
  ceiling --retry-after S   the ceiling run with one 429 + `Retry-After: S` half-way through:
            every recipient delivered, the emulator's stats.duplicates, the busiest second.
  cluster   N nodes (--nodes, 3) of `herald serve` on one PostgreSQL, 10,000 installed recipients,
            Teams at 50 RPS with per-conversation windows: time against the 200 s floor, the
            busiest second, 429s, duplicates. --kill-at S kill -9s the last node S seconds in
            (then duplicates are bounded by its in-flight rows). --probes K: during the broadcast,
            K `?sync=true` sends to one person on another node, each timed until it answers.
  import    1,000,000 references imported (Teams Toolkit store documents of 5,000): the rate
            overall, of the first and of the last 100,000, and the server's peak RSS.
  group     a notification to a 300,000-member group (--users) read through Graph's paging:
            time from accept to the first delivery, the rate, the server's peak RSS.
  engine --users 1000000   the engine figure at a million; also reports the import, and the
            rate of the first and the last 100,000 deliveries.
  outage    10,000 recipients at 50 RPS; half-way through Teams holds every request unanswered
            for --outage-s seconds (180): every recipient delivered, duplicates (stats and
            transcripts) against max_in_flight, and the rows flagged possibleDuplicate.

Usage: bench/delivery.py MODE [--backend sqlite|postgres] [--users N] [--faults]
Needs a release build (cargo build --release -p herald); PostgreSQL for --backend postgres.
"""
import argparse, json, os, re, shutil, signal, subprocess, sys, tempfile, threading, time, urllib.request, uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "herald")
TOKEN = "bench-token"
PG_URL = os.environ.get("HERALD_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


def http(method, url, body=None, headers=None, timeout=600):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("content-type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read()
            return r.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


class Proc:
    def __init__(self, args, env=None):
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                  env={**os.environ, **(env or {})})

    def lines(self):
        return iter(self.p.stdout.readline, "")

    def drain(self):
        threading.Thread(target=self.p.stdout.read, daemon=True).start()

    def rss_mb(self):
        try:
            with open(f"/proc/{self.p.pid}/status") as f:
                s = f.read()
            return int(re.search(r"VmRSS:\s+(\d+)", s).group(1)) / 1024, int(re.search(r"VmHWM:\s+(\d+)", s).group(1)) / 1024
        except (OSError, AttributeError):
            return 0, 0

    def kill9(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()


def emulator(users, *flags):
    e = Proc([BIN, "emulator", "--users", str(users), "--listen", "127.0.0.1:0", *flags])
    env = {}
    for line in e.lines():
        m = re.match(r"\s+export (\w+)=(.*)", line)
        if m:
            env[m.group(1)] = m.group(2).strip().strip("'")
        if "/_emulator/stats" in line:
            break
    e.drain()
    return e, env["HERALD_LOGIN_URL"], env


def serve(env, database_url, endpoint=True, **extra):
    vars = {**env, "HERALD_LISTEN": "127.0.0.1:0", "HERALD_DATABASE_URL": database_url,
            "HERALD_API_TOKENS": TOKEN, "HERALD_WELCOME_TEXT": "", "HERALD_LOG": "warn"}
    vars.update({k: str(v) for k, v in extra.items()})
    s = Proc([BIN, "serve"], vars)
    line = s.p.stdout.readline()
    base = line.strip().replace("herald serve listening on ", "")
    s.drain()
    if endpoint:
        http("PUT", env["HERALD_LOGIN_URL"] + "/_emulator/config", {"botEndpoint": base + "/api/messages"})
    return s, base


def api(base, method, path, body=None):
    return http(method, base + path, body, {"authorization": f"Bearer {TOKEN}"})


def database(backend):
    if backend == "sqlite":
        d = tempfile.mkdtemp(prefix="herald-bench-")
        return f"sqlite://{d}/herald.db", lambda: shutil.rmtree(d, ignore_errors=True)
    schema = "herald_bench_" + uuid.uuid4().hex[:8]
    subprocess.run(["psql", PG_URL, "-qc", f"CREATE SCHEMA {schema}"], check=True)
    drop = lambda: subprocess.run(["psql", PG_URL, "-qc", f"DROP SCHEMA {schema} CASCADE"],
                                  env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"})
    return f"{PG_URL}?options=-c%20search_path%3D{schema}", drop


def register(origin, base, chunk=5000):
    """Teach the server every installed user's conversation, as a Teams Toolkit store import.
    Returns the tenant, the count, and the import's rates: overall, first and last 100,000."""
    _, tenant = http("GET", origin + "/_emulator/tenant")
    refs = [u for u in tenant["users"] if u.get("conversationId")]
    marks = [(0, time.time())]
    for i in range(0, len(refs), chunk):
        doc = {}
        for u in refs[i:i + chunk]:
            doc[f"_{tenant['tenantId']}_{u['conversationId']}"] = {
                "user": {"id": u["id"], "aadObjectId": u["aadObjectId"], "name": u["displayName"]},
                "bot": {"id": tenant["botId"], "name": tenant["appName"]},
                "conversation": {"conversationType": "personal", "tenantId": tenant["tenantId"], "id": u["conversationId"]},
                "channelId": "msteams", "serviceUrl": tenant["serviceUrl"]}
        body = json.dumps(doc).encode()
        t0 = time.time()
        status, r = api(base, "POST", "/v1/installations/import", body)
        assert status == 200, (status, r)
        # Only the server's time counts: building the document here is the bench's own cost.
        marks.append((min(i + chunk, len(refs)), marks[-1][1] + time.time() - t0))
    def rate(a, b):
        (n0, t0), (n1, t1) = a, b
        return round((n1 - n0) / max(t1 - t0, 1e-9))
    window = max(1, min(100_000, len(refs) // 10) // chunk)
    stats = {"imported": len(refs), "import_seconds": round(marks[-1][1] - marks[0][1], 1),
             "import_per_second": rate(marks[0], marks[-1]),
             f"import_first_{window * chunk}_per_second": rate(marks[0], marks[min(window, len(marks) - 1)]),
             f"import_last_{window * chunk}_per_second": rate(marks[max(0, len(marks) - 1 - window)], marks[-1])}
    return tenant, len(refs), stats


def run_notification(base, body, watch=None):
    t0 = time.time()
    status, n = api(base, "POST", "/v1/notifications", body)
    assert status == 202, (status, n)
    while True:
        s = api(base, "GET", f"/v1/notifications/{n['id']}")[1]
        if watch:
            watch(s)
        if s["state"] in ("completed", "canceled"):
            return s, time.time() - t0
        time.sleep(0.5)


def ceiling(args):
    flags = ["--all-installed", "--rps", "50", "--no-transcripts"]
    if args.faults:
        flags += ["--faults", "502=0.0167,503=0.0167,504=0.0166,timeout=0.01,seed=7"]
    e, origin, env = emulator(args.users, *flags)
    url, drop = database(args.backend)
    s, base = serve(env, url, HERALD_TENANT_RPS=50)
    try:
        _, count, _ = register(origin, base)
        http("DELETE", origin + "/_emulator/stats")
        if args.retry_after:
            status, _ = http("PUT", origin + "/_emulator/config", {"faults": {
                "retryAfterOnce": {"afterRequests": count // 2, "seconds": args.retry_after}}})
            assert status == 200, status
        st, secs = run_notification(base, {"to": {"allInstalled": True}, "message": {"text": "Benchmark at the ceiling"}})
        stats = http("GET", origin + "/_emulator/stats")[1]
        floor = count / 50
        c = st["counts"]
        sends = stats["requests"].get("POST /v3/conversations/{cid}/activities", {})
        print(json.dumps({
            "mode": "ceiling" + (" with faults" if args.faults else "")
                    + (f" with one Retry-After {args.retry_after} s" if args.retry_after else ""),
            "backend": args.backend, "recipients": count, "duplicates": stats["duplicates"],
            "seconds": round(secs, 1), "floor_seconds": floor, "ratio_to_floor": round(secs / floor, 4),
            "delivered": c["delivered"], "failed": c["failed"],
            "emulator_max_requests_in_1s": stats["maxRequestsIn1s"]["tenant"],
            "emulator_received": stats["connectorRequests"], "throttled_429": stats["throttled"],
            "share_429": round(stats["throttled"] / max(1, stats["connectorRequests"]), 5),
            "sends_by_status": sends}, indent=1))
    finally:
        s.stop(); e.stop(); drop()


def outage(args):
    e, origin, env = emulator(args.users, "--all-installed", "--rps", "50")
    url, drop = database(args.backend)
    s, base = serve(env, url, HERALD_TENANT_RPS=50)
    try:
        tenant, count, _ = register(origin, base)
        http("DELETE", origin + "/_emulator/stats")
        status, _ = http("PUT", origin + "/_emulator/config", {"faults": {"outage": {
            "afterRequests": count // 2, "durationMs": args.outage_s * 1000, "mode": "hold"}}})
        assert status == 200, status
        text = f"Outage run {uuid.uuid4().hex[:6]}"
        st, secs = run_notification(base, {"to": {"allInstalled": True}, "message": {"text": text}})
        stats = http("GET", origin + "/_emulator/stats")[1]
        flagged, after = set(), 0
        while True:
            page = api(base, "GET", f"/v1/notifications/{st['id']}/deliveries?limit=1000&cursor={after}")[1]
            for r in page["items"]:
                if r["possibleDuplicate"]:
                    flagged.add(r["recipient"].lower())
            if not page["next"]:
                break
            after = page["next"]
        duplicated, missing = set(), 0
        for u in tenant["users"]:
            if not u.get("conversationId"):
                continue
            t = http("GET", origin + f"/_emulator/users/{u['upn']}/transcript")[1]
            n = sum(1 for a in t["activities"] if a.get("text") == text)
            if n == 0:
                missing += 1
            if n > 1:
                duplicated.add(u["aadObjectId"].lower())
        print(json.dumps({
            "mode": f"outage: Teams holds every request for {args.outage_s} s half-way", "backend": args.backend,
            "recipients": count, "seconds": round(secs, 1), "delivered": st["counts"]["delivered"],
            "failed": st["counts"]["failed"], "users_who_did_not_get_it": missing,
            "duplicated_users": len(duplicated), "emulator_duplicates": stats["duplicates"],
            "max_in_flight": 64, "flagged_possible_duplicate": len(flagged),
            "every_duplicate_flagged": duplicated <= flagged,
            "emulator_max_requests_in_1s": stats["maxRequestsIn1s"]["tenant"]}, indent=1))
    finally:
        s.stop(); e.stop(); drop()


def engine(args):
    e, origin, env = emulator(args.users, "--all-installed", "--rps", "0", "--no-conversation-limits", "--no-transcripts")
    url, drop = database(args.backend)
    s, base = serve(env, url, HERALD_TENANT_RPS=0, **({"HERALD_MAX_IN_FLIGHT": os.environ["BENCH_IN_FLIGHT"]} if os.environ.get("BENCH_IN_FLIGHT") else {}))
    try:
        _, count, imported = register(origin, base)
        peak = [0.0]
        progress = []  # (seconds since accept, rows done)
        t_start = time.time()
        trace = os.environ.get("BENCH_TRACE")
        def watch(st):
            peak[0] = max(peak[0], s.rss_mb()[0])
            done = st["total"] - st["counts"]["pending"]
            progress.append((time.time() - t_start, done))
            if trace:
                print(f"  t={time.time() - t_start:5.1f}s resolved={st['resolved']} total={st['total']} done={done} "
                      f"rss={s.rss_mb()[0]:.0f}MB", file=sys.stderr)
        st, secs = run_notification(base, {"to": {"allInstalled": True}, "message": {"text": "Engine ceiling"}}, watch)
        c = st["counts"]
        window = min(100_000, count // 10)
        def rate_between(lo, hi):
            a = next((t for t, d in progress if d >= lo), None)
            b = next((t for t, d in progress if d >= hi), secs)
            return round((hi - lo) / max(b - (a or 0), 1e-9)) if a is not None else None
        print(json.dumps({"mode": "engine", "backend": args.backend, "recipients": count, "seconds": round(secs, 1),
                          "deliveries_per_second": round(c["delivered"] / secs), "delivered": c["delivered"],
                          "failed": c["failed"], f"first_{window}_per_second": round(window / next((t for t, d in progress if d >= window), secs)),
                          f"last_{window}_per_second": rate_between(count - window, count),
                          "server_rss_mb_peak_while_sending": round(peak[0]),
                          "server_rss_high_water_mb": round(s.rss_mb()[1]), **imported}, indent=1))
    finally:
        s.stop(); e.stop(); drop()


def group(args):
    """A notification to a group of --users members (the emulator's "All Staff", every member
    installed), read from Graph 999 a page: time from accept to the first delivery, the rate,
    the server's peak RSS; limits off as in `engine`."""
    e, origin, env = emulator(args.users, "--all-installed", "--rps", "0", "--no-conversation-limits", "--no-transcripts")
    url, drop = database(args.backend)
    s, base = serve(env, url, HERALD_TENANT_RPS=0)
    try:
        tenant, count, _ = register(origin, base)
        gid = next(g["id"] for g in tenant["groups"] if g["displayName"] == "All Staff")
        peak, first = 0.0, None
        t0 = time.time()
        status, n = api(base, "POST", "/v1/notifications", {"to": {"groups": [gid]}, "message": {"text": "All staff"}})
        assert status == 202, (status, n)
        while True:
            st = api(base, "GET", f"/v1/notifications/{n['id']}")[1]
            peak = max(peak, s.rss_mb()[0])
            if first is None and st["counts"]["delivered"] > 0:
                first = time.time() - t0
            if st["state"] in ("completed", "canceled"):
                break
            time.sleep(0.05 if first is None else 0.5)
        secs = time.time() - t0
        c = st["counts"]
        print(json.dumps({"mode": "group", "backend": args.backend, "members_installed": count, "total": st["total"],
                          "delivered": c["delivered"], "failed": c["failed"],
                          "first_delivery_seconds": round(first, 2), "seconds": round(secs, 1),
                          "deliveries_per_second": round(c["delivered"] / secs),
                          "server_rss_mb_peak": round(peak), "server_rss_high_water_mb": round(s.rss_mb()[1]),
                          "emulator_rss_mb": round(e.rss_mb()[0])}, indent=1))
    finally:
        s.stop(); e.stop(); drop()


def import_(args):
    e, origin, env = emulator(args.users, "--all-installed", "--no-transcripts")
    url, drop = database(args.backend)
    s, base = serve(env, url)
    try:
        _, _, imported = register(origin, base)
        print(json.dumps({"mode": "import", "backend": args.backend, **imported,
                          "server_rss_high_water_mb": round(s.rss_mb()[1])}, indent=1))
    finally:
        s.stop(); e.stop(); drop()


def cold(args):
    e, origin, env = emulator(args.users, "--rps", "0", "--no-conversation-limits", "--no-transcripts")
    url, drop = database(args.backend)
    s, base = serve(env, url, HERALD_TENANT_RPS=0)
    try:
        _, tenant = http("GET", origin + "/_emulator/tenant")
        members = [u["aadObjectId"] for u in tenant["users"] if not u["guest"]][:args.users]
        csv = "aadObjectId\n" + "\n".join(members) + "\n"
        http("DELETE", origin + "/_emulator/stats")
        st, secs = run_notification(base, {"to": {"csv": csv}, "message": {"text": "Cold path"}, "options": {"ifNotInstalled": "install"}})
        first = http("GET", origin + "/_emulator/stats")[1]
        http("DELETE", origin + "/_emulator/stats")
        st2, secs2 = run_notification(base, {"to": {"csv": csv}, "message": {"text": "Second"}, "options": {"ifNotInstalled": "install"}})
        second = http("GET", origin + "/_emulator/stats")[1]
        def calls(stats):
            return {k: v["received"] for k, v in stats["requests"].items() if k.split(" ")[1].startswith(("/v3", "/v1.0"))}
        n = len(members)
        c1, c2 = calls(first), calls(second)
        print(json.dumps({"mode": "cold", "backend": args.backend, "recipients": n,
                          "first": {"seconds": round(secs, 1), "delivered": st["counts"]["delivered"], "calls": c1,
                                    "calls_per_recipient": round(sum(c1.values()) / n, 3)},
                          "second": {"seconds": round(secs2, 1), "delivered": st2["counts"]["delivered"], "calls": c2,
                                     "calls_per_recipient": round(sum(c2.values()) / n, 3)}}, indent=1))
    finally:
        s.stop(); e.stop(); drop()


def crash(args):
    e, origin, env = emulator(args.users, "--all-installed", "--rps", "50")
    url, drop = database(args.backend)
    s, base = serve(env, url, HERALD_TENANT_RPS=50)
    kills = []
    try:
        tenant, count, _ = register(origin, base)
        status, n = api(base, "POST", "/v1/notifications", {"to": {"allInstalled": True}, "message": {"text": "Crash test"}})
        assert status == 202
        t0 = time.time()
        for at in (30, 70, 110):
            time.sleep(max(0, at - (time.time() - t0)))
            before = api(base, "GET", f"/v1/notifications/{n['id']}")[1]["counts"]["delivered"]
            s.kill9()
            kills.append({"at_s": at, "delivered_before": before})
            s, base = serve(env, url, HERALD_TENANT_RPS=50)
        while True:
            st = api(base, "GET", f"/v1/notifications/{n['id']}")[1]
            if st["state"] in ("completed", "canceled"):
                break
            time.sleep(1)
        secs = time.time() - t0
        received, duplicates, missing = 0, 0, 0
        for u in tenant["users"]:
            if not u.get("conversationId"):
                continue
            t = http("GET", origin + f"/_emulator/users/{u['upn']}/transcript")[1]
            got = sum(1 for a in t["activities"] if a["text"] == "Crash test")
            received += got
            duplicates += max(0, got - 1)
            missing += got == 0
        print(json.dumps({"mode": "crash", "backend": args.backend, "recipients": count, "kills": kills,
                          "seconds": round(secs, 1), "counts": st["counts"], "users_who_got_it": count - missing,
                          "missing": missing, "duplicates": duplicates, "max_in_flight": 64}, indent=1))
    finally:
        s.stop(); e.stop(); drop()


def cluster(args):
    e, origin, env = emulator(args.users, "--all-installed", "--rps", "50", "--no-transcripts")
    url, drop = database("postgres")
    nodes = []
    try:
        for i in range(args.nodes):
            nodes.append(serve(env, url, endpoint=(i == 0), HERALD_TENANT_RPS=50, HERALD_NODE_ID=f"bench-{i}"))
        base = nodes[0][1]
        _, count, _ = register(origin, base)
        _, tenant = http("GET", origin + "/_emulator/tenant")
        # A different person each time: most are owned by another node than the one that
        # accepts the probe (rows are claimed by the node that owns their recipient).
        probe_to = [u["upn"] for u in tenant["users"] if u.get("conversationId")][:args.probes or 1]
        http("DELETE", origin + "/_emulator/stats")
        t0 = time.time()
        status, n = api(base, "POST", "/v1/notifications", {"to": {"allInstalled": True}, "message": {"text": "Cluster at the ceiling"}})
        assert status == 202, (status, n)
        killed, probes = None, []
        next_probe = 15.0
        while True:
            now = time.time() - t0
            if args.kill_at and killed is None and now >= args.kill_at:
                before = api(base, "GET", f"/v1/notifications/{n['id']}")[1]["counts"]["delivered"]
                nodes[-1][0].kill9()
                killed = {"node": f"bench-{len(nodes) - 1}", "at_s": round(now, 1), "delivered_before": before}
            if len(probes) < args.probes and now >= next_probe:
                probe_base = nodes[1 % len(nodes)][1]
                p0 = time.time()
                st, r = api(probe_base, "POST", "/v1/notifications?sync=true",
                            {"to": {"users": [probe_to[len(probes)]]}, "message": {"text": f"probe {len(probes)}"}})
                probes.append({"seconds": round(time.time() - p0, 3), "status": st,
                               "outcome": (r or {}).get("outcome") if isinstance(r, dict) else r})
                next_probe += 12.0
            st = api(base, "GET", f"/v1/notifications/{n['id']}")[1]
            if st["state"] in ("completed", "canceled"):
                break
            time.sleep(0.5)
        secs = time.time() - t0
        stats = http("GET", origin + "/_emulator/stats")[1]
        cluster_view = api(nodes[1][1] if len(nodes) > 1 else base, "GET", "/v1/cluster")[1]
        floor = count / 50
        c = st["counts"]
        lat = sorted(p["seconds"] for p in probes)
        print(json.dumps({
            "mode": f"cluster of {args.nodes} nodes on PostgreSQL" + (f", one kill -9 at {args.kill_at} s" if args.kill_at else ""),
            "recipients": count, "seconds": round(secs, 1), "floor_seconds": floor,
            "ratio_floor_to_time": round(floor / secs, 4), "delivered": c["delivered"], "failed": c["failed"],
            "emulator_duplicates": stats["duplicates"], "emulator_max_requests_in_1s": stats["maxRequestsIn1s"]["tenant"],
            "throttled_429": stats["throttled"], "killed": killed,
            "sync_probes": probes, "sync_probe_median_s": lat[len(lat) // 2] if lat else None,
            "cluster": cluster_view}, indent=1))
    finally:
        for s, _ in nodes:
            s.stop()
        e.stop(); drop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["ceiling", "engine", "cold", "crash", "outage", "cluster", "import", "group"])
    p.add_argument("--nodes", type=int, default=3, help="cluster: how many nodes")
    p.add_argument("--kill-at", type=float, help="cluster: kill -9 the last node this many seconds in")
    p.add_argument("--probes", type=int, default=0, help="cluster: ?sync=true sends timed during the broadcast")
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--users", type=int)
    p.add_argument("--faults", action="store_true")
    p.add_argument("--retry-after", type=int, help="ceiling: one 429 with this Retry-After (s) half-way")
    p.add_argument("--outage-s", type=int, default=180, help="outage: how long Teams holds requests")
    a = p.parse_args()
    a.users = a.users or {"ceiling": 10000, "engine": 100000, "cold": 10000, "crash": 10000, "outage": 10000, "cluster": 10000, "import": 1000000, "group": 300000}[a.mode]
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release -p herald")
    globals()[{"import": "import_"}.get(a.mode, a.mode)](a)
