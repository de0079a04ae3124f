"""Starts `herald emulator` as its own process and a recording bot, for tests that drive the
emulator with Microsoft's official Python Bot Framework client."""

import json
import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from botframework.connector.auth import AppCredentials

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "8d4b3b4e-6f2a-4c1d-9e3f-5a7b9c1d3e5f"
APP_PASSWORD = "sandbox-app-password"


def herald_binary() -> str:
    path = os.environ.get("HERALD_BIN") or str(ROOT / "target" / "debug" / "herald")
    if not Path(path).exists():
        pytest.fail(f"no herald binary at {path}: build it first (cargo build) or set HERALD_BIN")
    return path


class RecordingBot:
    """A bot endpoint that keeps every activity Teams sends it."""

    def __init__(self):
        self.activities = []
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length", "0"))
                bot.activities.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/messages"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


class Emulator:
    def __init__(self, origin: str, proc: subprocess.Popen):
        self.origin = origin
        self.proc = proc
        self.tenant = requests.get(f"{origin}/_emulator/tenant", timeout=10).json()

    def user(self, n: int) -> dict:
        return self.tenant["users"][n - 1]

    def team(self, name: str) -> dict:
        return next(t for t in self.tenant["teams"] if t["name"] == name)

    def control(self, path: str, body=None) -> requests.Response:
        return requests.post(f"{self.origin}/_emulator{path}", json=body or {}, timeout=30)

    def config(self, patch: dict) -> dict:
        r = requests.put(f"{self.origin}/_emulator/config", json=patch, timeout=10)
        r.raise_for_status()
        return r.json()

    def transcript(self, upn: str) -> dict:
        return requests.get(f"{self.origin}/_emulator/users/{upn}/transcript", timeout=10).json()

    def token(self, password: str = APP_PASSWORD) -> requests.Response:
        return requests.post(
            f"{self.origin}/botframework.com/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": APP_ID,
                "client_secret": password,
                "scope": "https://api.botframework.com/.default",
            },
            timeout=10,
        )


class EmulatorCredentials(AppCredentials):
    """The SDK's credentials interface, fed with a token from the emulator's token endpoint
    (the SDK's MSAL path insists on an https authority, which a loopback emulator lacks)."""

    def __init__(self, token: str):
        super().__init__(app_id=APP_ID)
        self._token = token

    def get_access_token(self, force_refresh: bool = False) -> str:
        return self._token


@pytest.fixture(scope="session")
def bot():
    b = RecordingBot()
    yield b
    b.close()


@pytest.fixture(scope="session")
def emulator(bot):
    proc = subprocess.Popen(
        [herald_binary(), "emulator", "--users", "120", "--listen", "127.0.0.1:0", "--bot-endpoint", bot.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
    if not m:
        proc.kill()
        pytest.fail(f"the emulator did not start: {line!r}")
    # Keep draining stdout so the process never blocks on a full pipe.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    emu = Emulator(m.group(1), proc)
    # These tests exercise the wire format, not throttling (except where they set it).
    emu.config({"conversationLimits": False, "tenantRps": 0})
    yield emu
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def credentials(emulator):
    r = emulator.token()
    r.raise_for_status()
    return EmulatorCredentials(r.json()["access_token"])
