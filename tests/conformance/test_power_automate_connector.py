"""The Power Automate custom connector (`herald connector-definition`) used as Power Platform
would: bravado, an OpenAPI 2.0 client from PyPI, builds a client from the written definition
(validating it as Swagger 2.0 on the way, and every answer against it) and sends a notification
through a running `herald sandbox`, authenticated by the connector's API-key header."""

import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
from bravado.client import CallableOperation, SwaggerClient
from bravado.exception import HTTPUnauthorized
from bravado.requests_client import RequestsClient

from conftest import herald_binary

SECRET = "flow-secret-7d1f"
# bravado's validator uses jsonschema APIs that warn about their own deprecation.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def sandbox():
    api, emu = free_port(), free_port()
    env = dict(os.environ, HERALD_API_TOKENS=f"flow:{SECRET}:read+send")
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [herald_binary(), "sandbox", "--users", "20", "--listen", f"127.0.0.1:{api}",
         "--emulator-listen", f"127.0.0.1:{emu}"],
        stdout=log, stderr=log, env=env)
    base = f"http://127.0.0.1:{api}"
    try:
        for _ in range(300):
            try:
                if requests.get(f"{base}/readyz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        else:
            log.seek(0)
            pytest.fail(f"the sandbox did not start: {log.read().decode(errors='replace')}")
        yield base, f"http://127.0.0.1:{emu}", api
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def definition(tmp_path_factory):
    out = tmp_path_factory.mktemp("connector")
    run = subprocess.run([herald_binary(), "connector-definition", "--out", str(out)],
                         capture_output=True, text=True, env=dict(os.environ, HERALD_PUBLIC_URL="https://herald.contoso.com"))
    assert run.returncode == 0, run.stderr
    spec = json.loads((out / "apiDefinition.swagger.json").read_text())
    props = json.loads((out / "apiProperties.json").read_text())
    return spec, props


def client_for(spec, port, secret):
    spec = dict(spec, host=f"127.0.0.1:{port}", schemes=["http"])
    http = RequestsClient()
    if secret:
        # What Power Platform's API-key connection does: the header the definition names.
        key = spec["securityDefinitions"]["api_key"]
        http.set_api_key(f"127.0.0.1:{port}", secret, param_name=key["name"], param_in=key["in"])
    return SwaggerClient.from_spec(
        spec, origin_url=f"http://127.0.0.1:{port}/", http_client=http,
        config={"validate_swagger_spec": True, "validate_responses": True, "use_models": False})


def call(client, operation_id, **params):
    for resource in client.swagger_spec.resources.values():
        if operation_id in resource.operations:
            return CallableOperation(resource.operations[operation_id])(**params).response(timeout=30).result
    raise AssertionError(f"no operation {operation_id}")


def test_the_definition_is_every_v1_operation_of_the_api(sandbox, definition):
    base, _, _ = sandbox
    spec, props = definition
    live = requests.get(f"{base}/openapi.json", timeout=10).json()
    expected = {(m, p) for p, item in live["paths"].items() if p.startswith("/v1")
                for m in item if m in ("get", "put", "post", "delete", "patch")}
    got = {(m, p) for p, item in spec["paths"].items() for m in item}
    assert got == expected
    assert spec["swagger"] == "2.0" and spec["host"] == "herald.contoso.com" and spec["schemes"] == ["https"]
    for p, item in spec["paths"].items():
        for m, op in item.items():
            assert op["operationId"] and op["summary"], (m, p)
            assert all("x-ms-summary" in prm for prm in op.get("parameters", [])), (m, p)
    assert props["properties"]["connectionParameters"]["api_key"]["type"] == "securestring"


def test_a_flow_sends_a_notification_through_the_connector(sandbox, definition):
    base, emulator, port = sandbox
    spec, _ = definition
    people = [f"user{i}@sandbox.example" for i in (1, 2, 3)]
    for p in people:
        requests.post(f"{emulator}/_emulator/users/{p}/install", timeout=10).raise_for_status()

    anonymous = client_for(spec, port, None)
    with pytest.raises(HTTPUnauthorized):
        call(anonymous, "createNotification", body={"to": {"users": people}, "message": {"text": "no key"}})

    flow = client_for(spec, port, SECRET)
    created = call(flow, "createNotification",
                   body={"to": {"users": people}, "message": {"text": "Sent from a flow"}})
    nid = created["id"]
    deadline = time.time() + 60
    while True:
        status = call(flow, "getNotification", id=nid)
        if status["state"] == "completed" or time.time() > deadline:
            break
        time.sleep(0.2)
    assert status["state"] == "completed", status
    assert status["counts"]["delivered"] == 3, status
    assert status["createdBy"] == "flow"
    page = call(flow, "listDeliveries", id=nid)
    assert sorted(r["outcome"] for r in page["items"]) == ["delivered"] * 3
    listed = call(flow, "listNotifications")
    assert nid in [n["id"] for n in listed["items"]]
    # The people got it in Teams (the emulator's transcripts).
    for p in people:
        chat = requests.get(f"{emulator}/_emulator/users/{p}/transcript", timeout=10)
        assert chat.status_code == 200 and "Sent from a flow" in chat.text, (p, chat.status_code)
