"""Fixtures for the end-to-end suite: the real ssm-vcr binary on 127.0.0.1:0."""

import os
import pathlib
import signal
import subprocess
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("SSM_VCR_BIN", str(ROOT / "target" / "debug" / "ssm-vcr"))


class Proxy:
    """The real binary. `args` go to `serve`; it audits to `audit_log`."""

    def __init__(self, audit_log, *args, extra_env=None):
        self.audit_log = audit_log
        self.process = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--audit-log", str(audit_log), *args],
            cwd=ROOT,
            env={**user_env("unused"), **(extra_env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            self.process.kill()
            raise RuntimeError(f"ssm-vcr did not start: {line!r} {self.process.stderr.read()}")
        self.url = line.split()[-1]
        self.log = ""

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.stdout, self.log = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, self.log

    def requests_seen(self):
        """How many requests reached the proxy (its access log lines), read after stop()."""
        return sum(1 for line in self.log.splitlines() if "ssm_vcr::access" in line)


@pytest.fixture
def proxy(tmp_path):
    p = Proxy(tmp_path / "audit.jsonl")
    yield p
    if p.process.poll() is None:
        p.stop()


def user_env(endpoint):
    """The environment a user exports: endpoint, dummy credentials, region; nothing else. Also
    what the proxy itself needs in record mode (its own dummy credentials, no IMDS lookups)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL_SSM=endpoint,
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="not-a-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


@pytest.fixture
def client_env(proxy):
    return user_env(proxy.url)


@pytest.fixture
def moto():
    """moto in server mode on 127.0.0.1:0, seeded so that its ids are the same on every run."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/seed?a=42", method="POST"), timeout=10)
    yield url
    server.stop()
