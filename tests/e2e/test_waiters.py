"""botocore's own waiter through the proxy: recorded against an upstream that runs a command
for a few polls, then replayed offline without the waiter's sleeps."""

import http.server
import json
import threading
import time
import uuid

import boto3
import botocore.config
import pytest

from conftest import Proxy

COMMAND = "0c1e7b5a-3d2f-4a8b-9c6d-5e4f3a2b1c0d"
INSTANCE = "i-0123456789abcdef0"
POLLS = 3  # InProgress answers before Success
DELAY = 1  # seconds the waiter sleeps between polls


class CommandRun(http.server.BaseHTTPRequestHandler):
    """GetCommandInvocation in awsJson1_1: InProgress POLLS times, then Success."""

    polls = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        assert self.headers["X-Amz-Target"] == "AmazonSSM.GetCommandInvocation"
        CommandRun.polls += 1
        status = "InProgress" if CommandRun.polls <= POLLS else "Success"
        # Compact, as AWS sends it: the cassette stores it as readable JSON.
        answer = {"CommandId": COMMAND, "InstanceId": INSTANCE, "Status": status}
        body = json.dumps(answer, separators=(",", ":")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def command_upstream():
    CommandRun.polls = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CommandRun)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def wait_for_command(endpoint):
    session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x",
                                    region_name="us-east-1")
    ssm = session.client("ssm", endpoint_url=endpoint,
                         config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 1}))
    started = time.monotonic()
    ssm.get_waiter("command_executed").wait(CommandId=COMMAND, InstanceId=INSTANCE,
                                           WaiterConfig={"Delay": DELAY, "MaxAttempts": 10})
    return time.monotonic() - started


def record(tmp_path, upstream):
    """The waiter run once through a recording proxy: the cassette folder, and how long it took."""
    cassettes = tmp_path / "cassettes"
    cassettes.mkdir()
    proxy = Proxy(tmp_path / "audit.jsonl", "--mode", "record", "--upstream", upstream,
                  "--cassette-dir", str(cassettes), "--cassette", "command")
    try:
        return cassettes, wait_for_command(proxy.url)
    finally:
        proxy.stop()


def test_a_waiter_replays_without_waiting_and_its_polls_are_stored_once(tmp_path, command_upstream):
    cassettes, recording_took = record(tmp_path, command_upstream)
    assert recording_took >= POLLS * DELAY
    interactions = json.loads((cassettes / "command.json").read_text())["interactions"]
    statuses = [(i["response"]["body"]["json"]["Status"], i.get("repeat", 1)) for i in interactions]
    assert statuses == [("InProgress", POLLS), ("Success", 1)], "one InProgress answer, with its count"

    report = tmp_path / "report.json"
    proxy = Proxy(tmp_path / "audit.jsonl", "--cassette-dir", str(cassettes), "--cassette", "command",
                  "--fail-on-unused", "--fail-on-miss", "--report", str(report))
    try:
        replay_took = wait_for_command(proxy.url)
    finally:
        proxy.stop()  # exit 0: every recorded poll consumed, no miss
    # One call, answered with Success: the waiter never slept.
    assert proxy.requests_seen() == 1
    assert replay_took < 0.5, replay_took
    print(f"waiter: recording took {recording_took:.2f} s, replay {replay_took:.3f} s")
    cassette = json.loads(report.read_text())["cassettes"][0]
    assert (cassette["skipped_polls"], cassette["unused"], cassette["misses"]) == (POLLS, [], 0)
    assert f"{POLLS} poll(s) skipped" in proxy.stdout


def test_every_poll_replays_when_fast_forward_is_off(tmp_path, command_upstream):
    cassettes, _ = record(tmp_path, command_upstream)
    proxy = Proxy(tmp_path / "audit.jsonl", "--cassette-dir", str(cassettes), "--cassette", "command",
                  "--no-fast-forward-waiters", "--fail-on-unused", "--fail-on-miss")
    try:
        replay_took = wait_for_command(proxy.url)
    finally:
        proxy.stop()
    assert proxy.requests_seen() == POLLS + 1
    assert replay_took >= POLLS * DELAY
