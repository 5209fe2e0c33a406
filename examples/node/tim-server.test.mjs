// tim-server, the Tencent Cloud IM stand-in, in a container for `node --test`.
//
// Copy `startTimServer` and `call` next to your tests. The container (TIM_IMAGE, default
// tim-server:dev) runs on the host's network on a free loopback port with an in-memory store;
// `call` signs an admin UserSig with Tencent's own tls-sig-api-v2, as your code does against
// Tencent IM. The container is stopped and removed in `after`. Where no image registry is
// reachable, set TESTCONTAINERS_RYUK_DISABLED=true (the reaper is an image of its own); where the
// tests themselves run in a container and Docker has no bridge network, also set
// TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 (else Testcontainers looks for the bridge's gateway).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomInt, randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { GenericContainer, Wait } from "testcontainers";
import TLSSigAPIv2 from "tls-sig-api-v2";

// The image's documented development app: never use the key outside tests.
const SDKAPPID = 1400000000;
const ADMIN = "administrator";
const SECRET_KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startTimServer() {
  const port = await freePort();
  const container = await new GenericContainer(process.env.TIM_IMAGE ?? "tim-server:dev")
    // Host network, one loopback port. With a bridge network instead: drop these two lines,
    // add .withExposedPorts(8080) and use container.getMappedPort(8080).
    .withNetworkMode("host")
    .withEnvironment({ TIM_LISTEN: `127.0.0.1:${port}`, TIM_MEMORY: "1" })
    .withWaitStrategy(Wait.forLogMessage("listening on"))
    .start();
  return { container, baseUrl: `http://127.0.0.1:${port}` };
}

/** POSTs `body` to /v4/{service}/{command} as the admin; returns the decoded answer. */
async function call(baseUrl, command, body, { service = "group_open_http_svc", key = SECRET_KEY } = {}) {
  const usersig = new TLSSigAPIv2.Api(SDKAPPID, key).genUserSig(ADMIN, 86400);
  const query = new URLSearchParams({
    sdkappid: String(SDKAPPID),
    identifier: ADMIN,
    usersig,
    random: String(randomInt(2 ** 32)),
    contenttype: "json",
  });
  const response = await fetch(`${baseUrl}/v4/${service}/${command}?${query}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200);
  return response.json();
}

let tim;
before(async () => {
  tim = await startTimServer();
});
after(async () => {
  await tim?.container.stop();
});

const TEXT = [{ MsgType: "TIMTextElem", MsgContent: { Text: "red packet" } }];

test("an imported message reads back", async () => {
  const group = `node-${randomUUID().slice(0, 12)}`;
  const created = await call(tim.baseUrl, "import_group", {
    Type: "Public",
    Name: "history",
    GroupId: group,
    CreateTime: 1448000000,
  });
  assert.equal(created.ActionStatus, "OK", JSON.stringify(created));
  assert.equal(created.GroupId, group);

  const imported = await call(tim.baseUrl, "import_group_msg", {
    GroupId: group,
    MsgList: [{ From_Account: "leckie", SendTime: 1448357837, Random: 8912345, MsgBody: TEXT }],
  });
  assert.equal(imported.ErrorCode, 0, JSON.stringify(imported));
  const [result] = imported.ImportMsgResult;
  assert.equal(result.Result, 0);

  const history = await call(tim.baseUrl, "group_msg_get_simple", { GroupId: group, ReqMsgNumber: 20 });
  assert.equal(history.ErrorCode, 0, JSON.stringify(history));
  assert.equal(history.RspMsgList.length, 1);
  const [message] = history.RspMsgList;
  assert.equal(message.MsgSeq, result.MsgSeq);
  assert.equal(message.From_Account, "leckie");
  assert.equal(message.MsgRandom, 8912345);
  assert.deepEqual(message.MsgBody, TEXT);
});

test("a UserSig signed with another key is refused", async () => {
  const answer = await call(tim.baseUrl, "group_msg_get_simple", { GroupId: "any", ReqMsgNumber: 1 }, { key: "not-the-app-key" });
  assert.equal(answer.ActionStatus, "FAIL");
  assert.equal(answer.ErrorCode, 70009); // the HMAC does not match
});
