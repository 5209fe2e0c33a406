"""A pytest fixture for tim-server, the Tencent Cloud IM stand-in, started in a container.

Copy this file next to your tests. The `tim_server` fixture starts the image (`TIM_IMAGE`,
default `tim-server:dev`) once per test session with Testcontainers, on the host's network and a
free loopback port, with an in-memory store, and calls the REST API as the app's admin with a
UserSig signed by Tencent's own `tls-sig-api-v2`: the calls your code makes against Tencent IM,
pointed at another base URL.

Where no image registry is reachable, run with TESTCONTAINERS_RYUK_DISABLED=true: the reaper is an
image of its own. The fixture removes its container itself.
"""

import json
import os
import random
import socket
import urllib.parse
import urllib.request

import pytest
import TLSSigAPIv2
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import LogMessageWaitStrategy

# The image's documented development app: never use the key outside tests.
SDKAPPID = 1400000000
ADMIN = "administrator"
SECRET_KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"


class TimServer:
    """A running tim-server: its base URL and a signed REST call."""

    def __init__(self, base_url, secret_key=SECRET_KEY):
        self.base_url = base_url
        self.secret_key = secret_key

    def call(self, command, body, service="group_open_http_svc"):
        """POSTs `body` to /v4/{service}/{command} as the admin; returns the decoded answer."""
        usersig = TLSSigAPIv2.TLSSigAPIv2(SDKAPPID, self.secret_key).gen_sig(ADMIN, 86400)
        query = urllib.parse.urlencode(
            {
                "sdkappid": SDKAPPID,
                "identifier": ADMIN,
                "usersig": usersig,
                "random": random.randrange(2**32),
                "contenttype": "json",
            }
        )
        request = urllib.request.Request(
            f"{self.base_url}/v4/{service}/{command}?{query}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tim_server():
    port = free_port()
    container = (
        DockerContainer(os.environ.get("TIM_IMAGE", "tim-server:dev"))
        # Host network, one loopback port. With a bridge network instead: drop these two lines,
        # add .with_exposed_ports(8080) and use container.get_exposed_port(8080).
        .with_kwargs(network_mode="host")
        .with_env("TIM_LISTEN", f"127.0.0.1:{port}")
        .with_env("TIM_MEMORY", "1")
        .waiting_for(LogMessageWaitStrategy("listening on"))
    )
    with container:
        yield TimServer(f"http://127.0.0.1:{port}")
