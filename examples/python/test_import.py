"""Import a group's history into tim-server and read it back, as a migration test would."""

import uuid

from conftest import TimServer

TEXT = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "red packet"}}]


def test_an_imported_message_reads_back(tim_server):
    group = f"py-{uuid.uuid4().hex[:12]}"
    created = tim_server.call(
        "import_group",
        {"Type": "Public", "Name": "history", "GroupId": group, "CreateTime": 1448000000},
    )
    assert created["ActionStatus"] == "OK", created
    assert created["GroupId"] == group

    imported = tim_server.call(
        "import_group_msg",
        {
            "GroupId": group,
            "MsgList": [
                {"From_Account": "leckie", "SendTime": 1448357837, "Random": 8912345, "MsgBody": TEXT}
            ],
        },
    )
    assert imported["ErrorCode"] == 0, imported
    [result] = imported["ImportMsgResult"]
    assert result["Result"] == 0

    history = tim_server.call("group_msg_get_simple", {"GroupId": group, "ReqMsgNumber": 20})
    assert history["ErrorCode"] == 0, history
    [message] = history["RspMsgList"]
    assert message["MsgSeq"] == result["MsgSeq"]
    assert message["From_Account"] == "leckie"
    assert message["MsgRandom"] == 8912345
    assert message["MsgBody"] == TEXT


def test_a_usersig_signed_with_another_key_is_refused(tim_server):
    stranger = TimServer(tim_server.base_url, secret_key="not-the-app-key")
    answer = stranger.call("group_msg_get_simple", {"GroupId": "any", "ReqMsgNumber": 1})
    assert answer["ActionStatus"] == "FAIL"
    assert answer["ErrorCode"] == 70009  # the HMAC does not match
