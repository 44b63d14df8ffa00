"""A whole maintenance-window workflow, recorded through the proxy against moto standing in for
AWS, then replayed offline: what aws-cli prints must not change by a byte."""

import difflib
import json
import os
import pathlib
import subprocess
import sys

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from conftest import Proxy, user_env

CLI_ENV = {"AWS_MAX_ATTEMPTS": "2", "AWS_RETRY_MODE": "standard"}


def aws(endpoint, *args, extra_env=None, environment=user_env):
    env = environment(endpoint)
    env.update(CLI_ENV, **(extra_env or {}))
    result = subprocess.run(
        [sys.executable, "-m", "awscli", "ssm", *args], env=env, capture_output=True, text=True, timeout=120
    )
    return {"command": " ".join(args[:1]), "exit": result.returncode, "stdout": result.stdout, "stderr": result.stderr}


def workflow(endpoint, name="nightly", environment=user_env):
    """Create a window, register two tasks, describe, deregister the first task twice, delete.
    `environment(endpoint)` is what aws-cli runs with (by default: pointed at `endpoint`)."""
    steps = []

    def step(*args):
        return aws(endpoint, *args, environment=environment)

    create = step("create-maintenance-window", "--name", name, "--schedule", "cron(0 2 ? * SUN *)",
                 "--duration", "2", "--cutoff", "1", "--no-allow-unassociated-targets",
                 "--client-token", f"{name}-create")
    steps.append(create)
    window = json.loads(create["stdout"])["WindowId"]
    tasks = []
    for arn in ["AWS-RunPatchBaseline", "AWS-RunShellScript"]:
        register = step("register-task-with-maintenance-window", "--window-id", window, "--task-arn", arn,
                       "--task-type", "RUN_COMMAND", "--targets", "Key=WindowTargetIds,Values=none",
                       "--client-token", f"{name}-{arn}")
        steps.append(register)
        tasks.append(json.loads(register["stdout"])["WindowTaskId"])
    steps.append(step("describe-maintenance-window-tasks", "--window-id", window))
    for _ in range(2):
        steps.append(step("deregister-task-from-maintenance-window", "--window-id", window,
                         "--window-task-id", tasks[0]))
    steps.append(step("delete-maintenance-window", "--window-id", window))
    return steps


def render(steps):
    lines = []
    for step in steps:
        lines.append(f"$ aws ssm {step['command']}  (exit {step['exit']})")
        lines.extend(f"  out| {line}" for line in step["stdout"].splitlines())
        lines.extend(f"  err| {line}" for line in step["stderr"].splitlines())
    return lines


def assert_same_output(recorded, replayed):
    """Fails with a unified diff of everything aws-cli printed, recorded against replayed."""
    if recorded != replayed:
        diff = "\n".join(difflib.unified_diff(render(recorded), render(replayed), "recorded", "replayed", lineterm=""))
        raise AssertionError(f"the replay differs from the recording:\n{diff}")


def record(tmp_path, moto, cassette, run=workflow, prefix=""):
    proxy = Proxy(tmp_path / f"audit-{cassette}.jsonl", "--mode", "record", "--upstream", moto,
                  "--cassette-dir", str(tmp_path), "--cassette", cassette)
    try:
        return run(proxy.url + prefix)
    finally:
        proxy.stop()


def replay_proxy(tmp_path, cassette):
    return Proxy(tmp_path / f"audit-replay-{cassette}.jsonl", "--cassette-dir", str(tmp_path), "--cassette", cassette)


def test_a_workflow_recorded_against_moto_replays_offline_identically(tmp_path, moto):
    recorded = record(tmp_path, moto, "flow")
    # moto's own answers, recorded as they are: an empty {} for a deregistration, and an HTML
    # 500 for deregistering a task that is gone (AWS says 400 DoesNotExistException).
    assert recorded[4]["exit"] == 0 and recorded[4]["stdout"] == ""
    assert recorded[5]["exit"] == 255 and "An error occurred (500)" in recorded[5]["stderr"]

    proxy = replay_proxy(tmp_path, "flow")
    try:
        replayed = workflow(proxy.url)
    finally:
        proxy.stop()
    assert_same_output(recorded, replayed)
    cassette = json.loads((tmp_path / "flow.json").read_text())
    statuses = [(i["response"]["status"], i.get("repeat", 1)) for i in cassette["interactions"]]
    # The 500 and aws-cli's retry of it are both kept: one answer, given twice in a row.
    assert statuses == [(200, 1)] * 5 + [(500, 2), (200, 1)]


def test_a_changed_response_byte_fails_the_comparison_with_a_readable_diff(tmp_path, moto):
    recorded = record(tmp_path, moto, "flow")
    path = tmp_path / "flow.json"
    cassette = json.loads(path.read_text())
    describe = cassette["interactions"][3]
    assert describe["operation"] == "DescribeMaintenanceWindowTasks"
    body = describe["response"]["body"]
    assert "AWS-RunShellScript" in body["utf8"]
    body["utf8"] = body["utf8"].replace("AWS-RunShellScript", "AWS-RunShellScripT", 1)
    path.write_text(json.dumps(cassette, indent=2) + "\n")

    proxy = replay_proxy(tmp_path, "flow")
    try:
        replayed = workflow(proxy.url)
    finally:
        proxy.stop()
    with pytest.raises(AssertionError) as caught:
        assert_same_output(recorded, replayed)
    message = str(caught.value)
    assert '-  out|' in message and '"TaskArn": "AWS-RunShellScript"' in message
    assert '+  out|' in message and '"TaskArn": "AWS-RunShellScripT"' in message


def test_invalid_deregistrations_get_aws_text_and_never_reach_moto(tmp_path, moto):
    def invalid_calls(endpoint):
        session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x", region_name="us-east-1")
        client = session.client("ssm", endpoint_url=endpoint,
                                config=botocore.config.Config(parameter_validation=False, retries={"mode": "standard"}))
        messages = []
        for window, task in [("mw-123", "50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c"), ("mw-0123456789abcdef0", "not-a-task")]:
            with pytest.raises(ClientError) as caught:
                client.deregister_task_from_maintenance_window(WindowId=window, WindowTaskId=task)
            assert caught.value.response["Error"]["Code"] == "ValidationException"
            messages.append(caught.value.response["Error"]["Message"])
        return messages

    messages = record(tmp_path, moto, "invalid", run=invalid_calls)
    assert messages == [
        "2 validation errors detected: Value 'mw-123' at 'windowId' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^mw-[0-9a-f]{17}$; Value 'mw-123' at 'windowId' "
        "failed to satisfy constraint: Member must have length greater than or equal to 20",
        "2 validation errors detected: Value 'not-a-task' at 'windowTaskId' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: "
        r"^[0-9a-fA-F]{8}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{12}$; "
        "Value 'not-a-task' at 'windowTaskId' failed to satisfy constraint: "
        "Member must have length greater than or equal to 36",
    ]
    # Nothing was forwarded, so nothing was recorded, and the audit log says the proxy answered.
    assert not (tmp_path / "invalid.json").exists()
    audit = [json.loads(line) for line in (tmp_path / "audit-invalid.jsonl").read_text().splitlines()]
    assert [(r["event"], r.get("source")) for r in audit] == [("start", None), ("outcome", "proxy"), ("outcome", "proxy")]


def test_a_replay_miss_through_aws_cli_fails_fast_with_the_explanation(tmp_path, moto):
    record(tmp_path, moto, "flow")
    proxy = replay_proxy(tmp_path, "flow")
    try:
        result = aws(proxy.url, "deregister-task-from-maintenance-window", "--window-id", "mw-0123456789abcdef0",
                     "--window-task-id", "50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c", extra_env={"AWS_MAX_ATTEMPTS": "5"})
    finally:
        proxy.stop()
    assert result["exit"] == 255, result  # aws-cli v1: a service error
    assert "An error occurred (ReplayMissException) when calling the DeregisterTaskFromMaintenanceWindow operation" in result["stderr"]
    assert "Closest recorded request: interaction 4" in result["stderr"]
    assert "$.WindowId: sent \"mw-0123456789abcdef0\"" in result["stderr"]
    assert proxy.requests_seen() == 1, "aws-cli retried the miss"


def test_two_cassettes_chosen_by_path_serve_two_clients_at_once(tmp_path, moto):
    recorded = {name: record(tmp_path, moto, name, run=lambda url, n=name: workflow(url, n)) for name in ["alpha", "beta"]}
    proxy = Proxy(tmp_path / "audit-both.jsonl", "--cassette-dir", str(tmp_path), "--cassette", "alpha")
    try:
        env_for = {name: user_env(f"{proxy.url}/cassette/{name}") for name in recorded}
        # Both clients run side by side; each endpoint path selects its own cassette.
        runs = {
            name: subprocess.Popen(
                [sys.executable, "-c", "import json, sys; sys.path.insert(0, sys.argv[1]); import test_moto; "
                 "print(json.dumps(test_moto.workflow(sys.argv[2], sys.argv[3])))",
                 str(pathlib.Path(__file__).parent), env_for[name]["AWS_ENDPOINT_URL_SSM"], name],
                env={**env_for[name], **CLI_ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in recorded
        }
        outputs = {name: run.communicate(timeout=300) for name, run in runs.items()}
    finally:
        proxy.stop()
    for name, (stdout, stderr) in outputs.items():
        assert runs[name].returncode == 0, stderr
        assert_same_output(recorded[name], json.loads(stdout))
    assert recorded["alpha"] != recorded["beta"]


def test_reads_recorded_against_moto_verify_against_it_without_drift(tmp_path, moto):
    """`ssm-vcr verify` sends the recorded reads to the same moto again: request ids and
    recording times moved, nothing a client reads did."""
    seed = boto3.client("ssm", endpoint_url=moto, region_name="us-east-1",
                        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="not-a-secret")
    seed.put_parameter(Name="/app/url", Value="https://example.com", Type="String")
    seed.put_parameter(Name="/app/mode", Value="blue", Type="String", Description="deploy colour")
    try:
        verify_reads(tmp_path, moto, seed)
    finally:
        # moto keeps its state for the whole test process, whatever server it answers on.
        seed.delete_parameters(Names=["/app/url", "/app/mode"])


def verify_reads(tmp_path, moto, seed):

    def reads(endpoint):
        return [
            aws(endpoint, "describe-parameters"),
            aws(endpoint, "get-parameter", "--name", "/app/url"),
            aws(endpoint, "get-parameters-by-path", "--path", "/app"),
        ]

    recorded = record(tmp_path, moto, "reads", run=reads)
    assert [step["exit"] for step in recorded] == [0, 0, 0], recorded
    cassette = tmp_path / "reads.json"
    before = cassette.read_text()

    from conftest import BIN, ROOT
    result = subprocess.run([BIN, "verify", str(cassette), "--upstream", moto, "--rate", "100"],
                            cwd=ROOT, env=user_env(moto), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "summary: 0 drifted, 3 same, 0 missing fixture(s), 0 skipped, 0 failed" in result.stdout, result.stdout
    assert cassette.read_text() == before, "verify without --update writes nothing"

    # The parameter read is gone from moto: a missing fixture, not drift.
    seed.delete_parameter(Name="/app/url")
    result = subprocess.run([BIN, "verify", str(cassette), "--upstream", moto, "--rate", "100"],
                            cwd=ROOT, env=user_env(moto), capture_output=True, text=True, timeout=60)
    assert "#1 GetParameter (us-east-1): missing fixture: AWS answers ParameterNotFound" in result.stdout, result.stdout
