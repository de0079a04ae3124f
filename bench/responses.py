#!/usr/bin/env python3
"""Answers benchmark (issue 5): how many answers to cards `herald serve` records per second
through /api/messages, with full JWT validation (one reused channel token, as Teams does) and the
card update that follows each answer included.

A card with Action.Submit and Action.Execute is sent (waitForResponse with an update message) to
N installed users; then wrk POSTs their answers — half Submit (message + replyToId: recorded, then
the card replaced with UpdateActivity), half Execute (adaptiveCard/action invoke: recorded and
answered with the update card in the HTTP response). The clock runs from the first answer until
every answer is recorded and every Submit's UpdateActivity has reached the emulator.

Usage: bench/responses.py [--backend sqlite|postgres] [--users N] [--seconds S] [--connections C]
Needs a release build (cargo build --release -p herald) and wrk (apt-get install wrk).
"""
import argparse, json, os, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delivery import api, database, emulator, http, register, run_notification, serve  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CARD = {
    "type": "AdaptiveCard", "version": "1.5",
    "body": [{"type": "TextBlock", "text": "Approve the budget, ${givenName}?", "wrap": True},
             {"type": "Input.Text", "id": "comment"}],
    "actions": [{"type": "Action.Submit", "title": "Approve"},
                {"type": "Action.Execute", "title": "Reject", "verb": "reject"}],
}


def all_rows(base, nid):
    rows, cursor = [], ""
    while True:
        page = api(base, "GET", f"/v1/notifications/{nid}/deliveries?limit=1000{cursor}")[1]
        rows += page["items"]
        if not page.get("next"):
            return rows
        cursor = f"&cursor={page['next']}"


def bodies(tenant, rows, path):
    by_aad = {u["aadObjectId"].lower(): u for u in tenant["users"]}
    bot = tenant["botId"]
    with open(path, "w") as f:
        for i, r in enumerate(rows):
            u = by_aad[r["recipient"].lower()]
            common = {
                "id": f"answer-{i}", "channelId": "msteams", "serviceUrl": tenant["serviceUrl"],
                "timestamp": "2026-11-21T12:00:00.000Z",
                "from": {"id": u["id"], "aadObjectId": u["aadObjectId"], "name": u["displayName"]},
                "recipient": {"id": bot, "name": tenant["appName"]},
                "conversation": {"id": r["conversationId"], "conversationType": "personal", "tenantId": tenant["tenantId"]},
                "channelData": {"tenant": {"id": tenant["tenantId"]}},
                "replyToId": r["activityId"],
            }
            if i % 2 == 0:
                a = {**common, "type": "message", "text": "",
                     "value": {"heraldAction": "Approve", "comment": f"ok {i}"}}
            else:
                a = {**common, "type": "invoke", "name": "adaptiveCard/action",
                     "value": {"action": {"type": "Action.Execute", "title": "Reject", "verb": "reject",
                                          "data": {"heraldAction": "Reject", "comment": f"no {i}"}}, "trigger": "manual"}}
            f.write(json.dumps(a, separators=(",", ":")) + "\n")
    return (len(rows) + 1) // 2


def puts(origin):
    stats = http("GET", origin + "/_emulator/stats")[1]
    return sum(v.get("200", 0) for k, v in stats["requests"].items() if k.startswith("PUT "))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--users", type=int, default=20000)
    p.add_argument("--seconds", type=int, default=30, help="the most wrk runs")
    p.add_argument("--connections", type=int, default=32)
    args = p.parse_args()
    e, origin, env = emulator(args.users, "--all-installed", "--rps", "0", "--no-conversation-limits", "--no-transcripts")
    url, drop = database(args.backend)
    s, base = serve(env, url, HERALD_TENANT_RPS=0, HERALD_MAX_IN_FLIGHT=64)
    tmp = tempfile.mkdtemp(prefix="herald-answers-")
    try:
        tenant, count = register(origin, base)
        st, secs = run_notification(base, {"to": {"allInstalled": True}, "message": {"card": CARD},
                                           "options": {"waitForResponse": {"updateMessage": "Thanks, recorded."}}})
        nid = st["id"]
        assert st["counts"]["delivered"] == count, st
        print(f"sent {count} cards in {secs:.1f} s", file=sys.stderr)
        rows = all_rows(base, nid)
        path = os.path.join(tmp, "answers.jsonl")
        submits = bodies(tenant, rows, path)
        token = http("POST", origin + "/_emulator/channel-token")[1]["token"]
        http("DELETE", origin + "/_emulator/stats")
        wrk = subprocess.Popen(["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s",
                                "-s", os.path.join(ROOT, "bench", "answer-activities.lua"), base],
                               stdout=subprocess.PIPE, text=True, env={**os.environ, "BODIES": path, "TOKEN": token})
        t0 = time.time()
        answered_at = None
        while True:
            time.sleep(0.25)
            c = api(base, "GET", f"/v1/notifications/{nid}/responses?limit=1")[1]["counts"]
            if c["answered"] >= count and answered_at is None:
                answered_at = time.time() - t0
                wrk.terminate()
            if wrk.poll() is not None:
                break
        out = wrk.stdout.read()
        answered = api(base, "GET", f"/v1/notifications/{nid}/responses?limit=1")[1]["counts"]["answered"]
        answered_at = answered_at or (time.time() - t0)
        # The card updates that follow the Submit answers.
        while puts(origin) < min(submits, answered // 2) and time.time() - t0 < answered_at + 60:
            time.sleep(0.1)
        updated_at = time.time() - t0
        page = api(base, "GET", f"/v1/notifications/{nid}/responses?limit=1")[1]
        print(json.dumps({
            "backend": args.backend, "users": count, "connections": args.connections,
            "answers_recorded": answered, "tally": page["tally"],
            "seconds_to_all_recorded": round(answered_at, 2),
            "seconds_to_all_updated": round(updated_at, 2),
            "answers_per_second_incl_update": round(answered / updated_at),
            "card_updates_put_200": puts(origin),
            "wrk_non_2xx": next((l.strip() for l in out.splitlines() if "Non-2xx" in l), "0"),
        }, indent=1))
    finally:
        s.stop(); e.stop(); drop()


if __name__ == "__main__":
    main()
