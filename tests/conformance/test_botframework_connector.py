"""The emulator, driven by Microsoft's official `botframework-connector` client: if the SDK
can create, send, reply, update, delete, list members and page through a team, and parses our
errors into the codes Teams documents, our wire format is Teams' wire format."""

import pytest
import requests
from botbuilder.schema import Activity, ChannelAccount, ConversationParameters
from botframework.connector import ConnectorClient
from botframework.connector.models import ErrorResponseException
from botframework.connector.teams import TeamsConnectorClient
from msrest.exceptions import HttpOperationError

from conftest import APP_ID, EmulatorCredentials


def params(emulator, member_id: str, activity=None) -> ConversationParameters:
    tenant = emulator.tenant["tenantId"]
    return ConversationParameters(
        is_group=False,
        bot=ChannelAccount(id=f"28:{APP_ID}"),
        members=[ChannelAccount(id=member_id)],
        channel_data={"tenant": {"id": tenant}},
        tenant_id=tenant,
        activity=activity,
    )


def error_code(exc: ErrorResponseException) -> str:
    return exc.error.error.code


@pytest.fixture
def client(emulator, credentials):
    return ConnectorClient(credentials, base_url=emulator.origin)


def installed(emulator, n: int) -> dict:
    user = emulator.user(n)
    r = emulator.control(f"/users/{user['upn']}/install")
    assert r.status_code == 200, r.text
    return user


def test_create_send_reply_update_delete(emulator, client, bot):
    user = installed(emulator, 1)
    assert any(a["type"] == "installationUpdate" for a in bot.activities), "the bot heard of the install"
    created = client.conversations.create_conversation(params(emulator, user["id"]))
    transcript = emulator.transcript(user["upn"])
    assert created.id == transcript["conversationId"]
    assert client.conversations.create_conversation(params(emulator, user["aadObjectId"])).id == created.id

    sent = client.conversations.send_to_conversation(created.id, Activity(type="message", text="hello from the SDK"))
    assert sent.id
    reply = client.conversations.reply_to_activity(created.id, sent.id, Activity(type="message", text="a reply"))
    assert reply.id and reply.id != sent.id
    updated = client.conversations.update_activity(created.id, sent.id, Activity(type="message", text="edited"))
    assert updated.id == sent.id
    client.conversations.delete_activity(created.id, reply.id)

    acts = {a["id"]: a for a in emulator.transcript(user["upn"])["activities"]}
    assert acts[sent.id]["text"] == "edited"
    assert acts[sent.id]["updated"] is True
    assert acts[sent.id]["history"][0]["text"] == "hello from the SDK"
    assert acts[reply.id]["replyToId"] == sent.id
    assert acts[reply.id]["deleted"] is True


def test_create_conversation_with_a_first_activity(emulator, client):
    user = installed(emulator, 2)
    card = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Hi"}]},
    }
    created = client.conversations.create_conversation(
        params(emulator, user["id"], Activity(type="message", attachments=[card]))
    )
    assert created.activity_id
    first = emulator.transcript(user["upn"])["activities"][0]
    assert first["id"] == created.activity_id
    assert first["attachments"][0]["content"]["type"] == "AdaptiveCard"


def test_members_of_a_personal_conversation(emulator, client):
    user = installed(emulator, 3)
    conv = client.conversations.create_conversation(params(emulator, user["id"])).id
    members = client.conversations.get_conversation_members(conv)
    assert [m.id for m in members] == [user["id"]]
    assert members[0].aad_object_id == user["aadObjectId"]
    one = client.conversations.get_conversation_member(conv, user["aadObjectId"])
    assert one.id == user["id"]


def test_paged_members_of_a_team_with_continuation_tokens(emulator, credentials):
    team = emulator.team("All Company")
    assert emulator.control(f"/teams/{team['id']}/install").status_code == 200
    try:
        teams_client = TeamsConnectorClient(credentials, base_url=emulator.origin)
        connector = ConnectorClient(credentials, base_url=emulator.origin)
        seen, token, pages = [], None, 0
        while True:
            page = connector.conversations.get_teams_conversation_paged_members(
                team["id"], page_size=50, continuation_token=token
            )
            pages += 1
            seen.extend(m.aad_object_id for m in page.members)
            token = page.continuation_token
            if not token:
                break
        assert pages == 3
        assert seen == team["memberIds"]
        channels = teams_client.teams.get_teams_channels(team["id"])
        assert channels.conversations[0].id == team["id"]
        assert channels.conversations[0].name is None
        details = teams_client.teams.get_team_details(team["id"])
        assert details.aad_group_id == team["aadGroupId"]
    finally:
        # Other tests need users who share no team with the bot.
        emulator.control(f"/teams/{team['id']}/uninstall")


def test_401_without_a_valid_token(emulator):
    bad = ConnectorClient(EmulatorCredentials("not-a-token"), base_url=emulator.origin)
    with pytest.raises(ErrorResponseException) as e:
        bad.conversations.send_to_conversation("a:1whatever", Activity(type="message", text="x"))
    assert e.value.response.status_code == 401
    assert error_code(e.value) == "Unauthorized"
    refused = emulator.token(password="wrong")
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


def test_403_not_in_roster_and_blocked(emulator, client):
    stranger = emulator.user(4)
    with pytest.raises(ErrorResponseException) as e:
        client.conversations.create_conversation(params(emulator, stranger["id"]))
    assert e.value.response.status_code == 403
    assert error_code(e.value) == "BotNotInConversationRoster"

    user = installed(emulator, 5)
    conv = client.conversations.create_conversation(params(emulator, user["id"])).id
    emulator.control(f"/users/{user['upn']}/block")
    with pytest.raises(ErrorResponseException) as e:
        client.conversations.send_to_conversation(conv, Activity(type="message", text="x"))
    assert e.value.response.status_code == 403
    assert error_code(e.value) == "ConversationBlockedByUser"
    emulator.control(f"/users/{user['upn']}/unblock")
    emulator.control(f"/users/{user['upn']}/uninstall")
    with pytest.raises(ErrorResponseException) as e:
        client.conversations.send_to_conversation(conv, Activity(type="message", text="x"))
    assert error_code(e.value) == "BotNotInConversationRoster"


def test_400_for_a_upn_and_404_for_unknown_things(emulator, client):
    user = installed(emulator, 6)
    with pytest.raises(ErrorResponseException) as e:
        client.conversations.create_conversation(params(emulator, user["upn"]))
    assert (e.value.response.status_code, error_code(e.value)) == (400, "BadArgument")
    with pytest.raises(ErrorResponseException) as e:
        client.conversations.send_to_conversation("a:1nope", Activity(type="message", text="x"))
    assert (e.value.response.status_code, error_code(e.value)) == (404, "ConversationNotFound")
    conv = client.conversations.create_conversation(params(emulator, user["id"])).id
    with pytest.raises(ErrorResponseException) as e:
        client.conversations.update_activity(conv, "999", Activity(type="message", text="x"))
    assert (e.value.response.status_code, error_code(e.value)) == (404, "ActivityNotFoundInConversation")
    with pytest.raises(HttpOperationError) as e:
        client.conversations.get_conversation_member(conv, emulator.user(7)["aadObjectId"])
    assert e.value.response.status_code == 404


def test_413_and_429_with_retry_after(emulator, client):
    user = installed(emulator, 8)
    conv = client.conversations.create_conversation(params(emulator, user["id"])).id
    with pytest.raises(ErrorResponseException) as e:
        client.conversations.send_to_conversation(conv, Activity(type="message", text="x" * 30_000))
    assert (e.value.response.status_code, error_code(e.value)) == (413, "MessageSizeTooBig")
    emulator.config({"conversationLimits": True})
    try:
        codes = []
        for i in range(9):
            try:
                client.conversations.send_to_conversation(conv, Activity(type="message", text=f"burst {i}"))
                codes.append(201)
            except ErrorResponseException as exc:
                codes.append(exc.response.status_code)
                assert error_code(exc) == "Throttled"
                assert int(exc.response.headers["Retry-After"]) >= 1
        assert codes.count(429) >= 2, codes
    finally:
        emulator.config({"conversationLimits": False})


def test_the_emulator_stats_see_every_sdk_request(emulator):
    stats = requests.get(f"{emulator.origin}/_emulator/stats", timeout=10).json()
    assert stats["connectorRequests"] > 0
    assert "POST /v3/conversations" in stats["requests"]
