#!/usr/bin/env python3
"""Writes the committed seeds of fuzz/corpus/<target>/ (run from the repository root).

Sources: the request bodies of the conformance cases (conformance/cases/*.toml, placeholders
filled with fixed values: groups `fuzz-<alias>`, users `u-<name>`, now = 1700000000), the
tim-model request fixtures, the UserSig test vectors of the digest (§3.4) and usersigs signed
like Tencent's generator, and small checkpoint and rejects files. Times and keys match the
constants of crates/tim-fuzz (NOW, SDKAPPID, KEYS[0]). Needs Python 3.11 (tomllib).
"""

import base64
import hashlib
import hmac
import json
import os
import random
import re
import sys
import tomllib
import zlib

NOW = 1_700_000_000
CREATE = NOW - 86_400
SDKAPPID = 1_400_000_000
KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
LIMITS = {"batch": 20, "msg_bytes": 8000, "rate": 100, "members": 500, "page": 20,
          "dedup_window": 300, "group_info_ids": 50}
COMMANDS = ["import_group_msg", "import_group", "create_group", "destroy_group", "get_group_info",
            "import_group_member", "set_unread_msg_num", "group_msg_get_simple"]
OUT = "fuzz/corpus"


def group_id(alias):
    return "fuzz-group" if alias == "g" else f"fuzz-{alias}"


def ops(base, rest):
    for op, n in re.findall(r"([+-])(\d+)", rest):
        base = base + int(n) if op == "+" else base - int(n)
    return base


def resolve(expr):
    m = re.match(r"([A-Za-z0-9_.]*)(.*)", expr)
    base, rest = m.group(1), m.group(2)
    head, _, field = base.partition(".")
    if head == "now":
        return ops(NOW, rest)
    if head == "never":
        return ops(NOW - 10 * 365 * 86_400, rest)
    if head == "limit":
        return ops(LIMITS.get(field, 1), rest)
    if head == "user":
        return f"u-{field}"
    if head == "restricted_word":
        return "forbidden-word"
    if head in ("admin",):
        return "administrator"
    if head == "sdkappid":
        return ops(SDKAPPID, rest)
    if field == "create":
        return ops(CREATE, rest)
    if field in ("next",):
        return ops(1, rest)
    if field == "last_time":
        return ops(CREATE + 100, rest)
    return group_id(head)


def interpolate(s):
    m = re.fullmatch(r"\$\{([^${}]*)\}", s)
    if m:
        return resolve(m.group(1))
    return re.sub(r"\$\{([^}]*)\}", lambda m: str(resolve(m.group(1))), s)


def text_body(text):
    return [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]


def expand(v):
    if isinstance(v, str):
        return interpolate(v)
    if isinstance(v, list):
        return [expand(x) for x in v]
    if isinstance(v, dict):
        if list(v) == ["$messages"]:
            spec = {k: expand(x) for k, x in v["$messages"].items()}
            count, start, step = int(spec["count"]), int(spec["start"]), int(spec.get("step", 1))
            out = []
            for i in range(min(count, 40)):
                text = spec.get("text", f"message {i}")
                if "bytes" in spec:
                    text = "x" * max(1, int(spec["bytes"]) - 50)
                msg = {"From_Account": spec.get("from", "u-a"), "SendTime": start + i * step,
                       "Random": spec.get("random", 1000 + i), "MsgBody": text_body(text)}
                out.append(msg)
            return out
        if list(v) == ["$text"]:
            return "t" * int(expand(v["$text"]["bytes"]))
        return {k: expand(x) for k, x in v.items()}
    return v


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def compact(v):
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def cases():
    for path in sorted(os.listdir("conformance/cases")):
        with open(os.path.join("conformance/cases", path), "rb") as f:
            case = tomllib.load(f)
        steps = case.get("setup", []) + case.get("step", [])
        for i, step in enumerate(steps):
            call = step.get("call")
            if call not in COMMANDS:
                continue
            if "raw" in step:
                body = interpolate(step["raw"]).encode()
            elif "body" in step:
                b = expand(step["body"])
                if isinstance(b, dict) and "group" in step and "GroupId" not in b \
                        and call != "get_group_info":
                    b = {"GroupId": group_id(step["group"]), **b}
                body = compact(b).encode()
            else:
                body = b""
            yield case["id"], i, call, body


def usersig(identifier, expire, time, sdkappid=SDKAPPID, key=KEY, userbuf=None):
    text = (f"TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\n"
            f"TLS.expire:{expire}\n")
    doc = {"TLS.ver": "2.0", "TLS.identifier": identifier, "TLS.sdkappid": sdkappid,
           "TLS.expire": expire, "TLS.time": time}
    if userbuf is not None:
        b64 = base64.b64encode(userbuf).decode()
        text += f"TLS.userbuf:{b64}\n"
        doc["TLS.userbuf"] = b64
    mac = hmac.new(key.encode(), text.encode(), hashlib.sha256).digest()
    doc["TLS.sig"] = base64.b64encode(mac).decode()
    raw = base64.b64encode(zlib.compress(json.dumps(doc).encode())).decode()
    return raw.replace("+", "*").replace("/", "-").replace("=", "_")


def main():
    rng = random.Random(16)
    seen = set()
    msgs_lines, group_lines, member_lines = [], [], []
    for case_id, i, call, body in cases():
        if body in seen:
            continue
        seen.add(body)
        name = f"{case_id}-{i}"
        if call == "import_group_msg":
            write("import_group_msg", name, body)
            try:
                req = json.loads(body)
                for m in req.get("MsgList", [])[:3]:
                    msgs_lines.append(compact({"GroupId": req.get("GroupId"), **m}))
            except (ValueError, AttributeError, TypeError):
                pass
        if call == "import_group" and len(group_lines) < 30:
            group_lines.append(body.decode())
        if call == "import_group_member":
            try:
                req = json.loads(body)
                for m in req.get("MemberList", [])[:3]:
                    member_lines.append(compact({"GroupId": req.get("GroupId"), **m}))
            except (ValueError, AttributeError, TypeError):
                pass
        k = COMMANDS.index(call)
        setup = 0 if call in ("import_group", "create_group") else 0x80
        if call != "import_group_msg" or len(body) < 600:
            write("api_command", name, bytes([k | setup]) + body)
            write("api_command", name + "-current", bytes([k | setup | 0x40]) + body)

    for fixture in sorted(os.listdir("crates/tim-model/tests/fixtures")):
        if not fixture.endswith("_request.json"):
            continue
        with open(os.path.join("crates/tim-model/tests/fixtures", fixture), "rb") as f:
            body = f.read()
        call = fixture.removesuffix("_request.json")
        if call in COMMANDS:
            write("api_command", "fixture-" + call, bytes([COMMANDS.index(call) | 0x80]) + body)
        if call in ("current",):
            write("import_group_msg", "fixture-current", body)

    # migrate_input: JSON Lines as the importer reads them (the three formats in one file each;
    # the target reads every file as each format).
    write("migrate_input", "messages.jsonl", "\n".join(msgs_lines[:40]) + "\n")
    write("migrate_input", "groups.jsonl", "\n".join(group_lines) + "\n")
    write("migrate_input", "members.jsonl", "\n".join(member_lines[:30]) + "\n")
    write("migrate_input", "mixed.jsonl",
          b"\xef\xbb\xbf" + "\r\n".join(msgs_lines[:3] + [""] + member_lines[:2]
                                        + ["not json", '{"GroupId":7}']).encode() + b"\r\n\n  \n")
    write("migrate_input", "source-ids.jsonl", "\n".join([
        '{"GroupId":"g","From_Account":"a","SendTime":5,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}],"SourceId":7,"X":1}',
        '{"GroupId":"g","From_Account":"a","SendTime":6,"MsgBody":[{"MsgType":"TIMCustomElem","MsgContent":{"Data":"d","Desc":"","Ext":"","Sound":""}}],"SourceId":"s-1","Random":4294967295,"CloudCustomData":"c"}',
        '{"GroupId":"g","From_Account":"a","SendTime":7,"MsgBody":[{"MsgType":"TIMLocationElem","MsgContent":{"Desc":"x","Latitude":22.5,"Longitude":113.9}}],"SourceId":null}',
        '{"GroupId":"g","Member_Account":"m","Role":"Admin","JoinTime":1699913700,"UnreadMsgNum":3}',
        '{"GroupId":"g","Type":"Public","Name":"n","CreateTime":1699913600,"Owner_Account":"o"}',
    ]) + "\n")

    # usersig_verify: a leading 0 makes the rest a raw usersig, verified with KEYS[0].
    vectors = {
        "py-vector": "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkElNyM-Myi0uKEkvyi2BKilOyEwsKMlOACgxNDKAAKpdaUZBZlAqUsTAzgQuWZOaChAzN0RQXZ6aDLKn0cUzVLjcPD00NLS1MCrPM0A*JMLcoNTLMD3HP1M60jCowLDUOKMiLNDOwVaoFAD4PNPI_",
        "go-vector": "eAEBrgBR-3siVExTLnZlciI6IjIuMCIsIlRMUy5pZGVudGlmaWVyIjoiYWRtaW5pc3RyYXRvciIsIlRMUy5zZGthcHBpZCI6MTQwMDAwMDAwMCwiVExTLmV4cGlyZSI6ODY0MDAsIlRMUy50aW1lIjoxNzAwMDAwMDAwLCJUTFMuc2lnIjoieUxBZSt3N1dVZVV1cWJWOWgvVFg3OHUyMW9UR2kraTlacDF1M1Bwblk2MD0ifbyIM5I_",
        "admin-day": usersig("administrator", 86_400, NOW - 60),
        "admin-expired": usersig("administrator", 60, NOW - 3600),
        "admin-userbuf": usersig("administrator", 86_400, NOW, userbuf=b"abc"),
        "other-app": usersig("administrator", 86_400, NOW, sdkappid=SDKAPPID + 1),
        "other-key": usersig("administrator", 86_400, NOW, key="another key"),
        "user-newline": usersig("user\n1", 86_400, NOW),
        "empty-identifier": usersig("", 86_400, NOW),
        "unicode": usersig("管理员", 86_400, NOW),
    }
    for name, sig in vectors.items():
        write("usersig_verify", name, b"\x00" + sig.encode())
    for n in (8, 32, 64, 128, 256):
        write("usersig_verify", f"structured-{n}", bytes(rng.randrange(1, 256) for _ in range(n)))

    # gateway_query: a leading 0 makes the rest a raw query string.
    good = usersig("administrator", 86_400, NOW - 60)
    queries = {
        "admin": f"sdkappid={SDKAPPID}&identifier=administrator&usersig={good}&random=99&contenttype=json",
        "not-admin": f"sdkappid={SDKAPPID}&identifier=u-a&usersig={usersig('u-a', 86_400, NOW)}&random=1&contenttype=json",
        "expired": f"sdkappid={SDKAPPID}&identifier=administrator&usersig={vectors['admin-expired']}",
        "foreign-app": f"sdkappid={SDKAPPID}&identifier=administrator&usersig={vectors['other-app']}",
        "sdkappid-missing": "identifier=administrator&usersig=x",
        "sdkappid-bad": "sdkappid=12ab&identifier=administrator&usersig=x",
        "sdkappid-unknown": "sdkappid=88888888&identifier=administrator&usersig=x",
        "repeated-keys": f"sdkappid={SDKAPPID}&sdkappid=1&identifier=admin&identifier=administrator&usersig={good}&usersig=",
        "encoded": f"sdk%61ppid={SDKAPPID}&identifier=admin%69strator&usersig={good.replace('*', '%2A')}&x=%ZZ&&=&+",
        "empty": "",
    }
    for name, q in queries.items():
        write("gateway_query", name, b"\x00" + q.encode())
    for n in (16, 64, 256, 512):
        write("gateway_query", f"structured-{n}", bytes(rng.randrange(1, 256) for _ in range(n)))

    # checkpoint: files as Checkpoint::save writes them, and near misses.
    fp = {"path": "messages.jsonl", "size": 1234, "head_sha256": "ab" * 32, "tail_sha256": "cd" * 32}
    cp = {"version": 2, "target": {"base_url": "http://127.0.0.1:8080", "sdkappid": SDKAPPID,
                                   "edition": "seed"},
          "input": {"messages": {**fp, "sha256": "ef" * 32},
                    "groups": {**fp, "path": "groups.jsonl"}},
          "rejects_len": 120,
          "groups": {"fuzz-group": {"created": True, "confirmed": 20, "last_seq": 20,
                                    "rejected": 1, "members_done": 2, "start_seq": 1},
                     "g2": {}}}
    write("checkpoint", "full.json", json.dumps(cp, indent=2) + "\n")
    write("checkpoint", "current.json", json.dumps({**cp, "target": {**cp["target"],
                                                                  "edition": "current"}}))
    write("checkpoint", "version-1.json", json.dumps({**cp, "version": 1}))
    write("checkpoint", "minimal.json", json.dumps({k: cp[k] for k in ("version", "target")}
                                                   | {"input": {"messages": fp}}))
    write("checkpoint", "not-json", "{\"version\": 2,")

    # rejects: byte 0 odd = a recorded length in bytes 1-2 (little-endian), even = none.
    line = compact({"file": "messages.jsonl", "line": 12, "GroupId": "g1", "code": 80002,
                    "reason": "message is 9000 bytes; at most 8000 are allowed",
                    "input": '{"GroupId":"g1"}'}) + "\n"
    two = (line + line).encode()
    write("rejects", "none-whole", b"\x00" + two)
    write("rejects", "none-torn", b"\x00" + two + line[:20].encode())
    write("rejects", "recorded-one", b"\x01" + len(line).to_bytes(2, "little") + two)
    write("rejects", "recorded-beyond", b"\x01" + (5000).to_bytes(2, "little") + two)
    write("rejects", "empty", b"\x00")


if __name__ == "__main__":
    if not os.path.isdir("conformance/cases"):
        sys.exit("run from the repository root")
    main()
