"""Fixtures for the end-to-end suite: the real ssm-vcr binary on 127.0.0.1:0."""

import os
import pathlib
import signal
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("SSM_VCR_BIN", str(ROOT / "target" / "debug" / "ssm-vcr"))


class Proxy:
    def __init__(self, audit_log, *args):
        self.audit_log = audit_log
        self.process = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--audit-log", str(audit_log), *args],
            cwd=ROOT,
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
        _, self.log = self.process.communicate(timeout=30)
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


@pytest.fixture
def client_env(proxy):
    """The environment a user exports: endpoint, dummy credentials, region; nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL_SSM=proxy.url,
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="not-a-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    return env
