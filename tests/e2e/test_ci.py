"""The proxy as a CI job and an operator meet it: boto3 against the real binary, the metrics
endpoint read by Prometheus's own Python parser, and the run report deciding the exit status."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import urllib.request

import boto3
import botocore.config
from prometheus_client.parser import text_string_to_metric_families

from conftest import BIN, ROOT, Proxy, user_env
from test_clients import readme_block

WINDOW, TASK = "mw-0c50858d01e8a7b6f", "50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c"


def client(endpoint):
    env = user_env(endpoint)
    return boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    ).client("ssm", endpoint_url=endpoint, config=botocore.config.Config(retries={"max_attempts": 1}))


def get(proxy, path):
    with urllib.request.urlopen(f"{proxy.url}/__ssm-vcr/{path}", timeout=10) as response:
        return response.headers["content-type"], response.read().decode()


def post(proxy, path):
    request = urllib.request.Request(f"{proxy.url}/__ssm-vcr/{path}", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def finish(proxy):
    """SIGTERM, as a CI step's cleanup sends; the exit status and what the proxy printed."""
    proxy.process.send_signal(signal.SIGTERM)
    stdout, stderr = proxy.process.communicate(timeout=30)
    return proxy.process.returncode, stdout, stderr


def deregister_twice(ssm):
    ssm.deregister_task_from_maintenance_window(WindowId=WINDOW, WindowTaskId=TASK)
    try:
        ssm.deregister_task_from_maintenance_window(WindowId=WINDOW, WindowTaskId=TASK)
    except ssm.exceptions.DoesNotExistException:
        pass
    else:
        raise AssertionError("the second deregistration was recorded as DoesNotExistException")


def test_metrics_parse_as_prometheus_text_and_a_skipped_recording_fails_the_run(tmp_path):
    report_file = tmp_path / "report.json"
    proxy = Proxy(tmp_path / "audit.jsonl", "--fail-on-unused", "--report", str(report_file))
    ssm = client(proxy.url)
    deregister_twice(ssm)
    ssm.describe_maintenance_window_tasks(WindowId=WINDOW)

    content_type, text = get(proxy, "metrics")
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    families = {family.name: family for family in text_string_to_metric_families(text)}
    calls = {
        (s.labels["operation"], s.labels["outcome"]): s.value
        for s in families["ssm_vcr_calls"].samples
        if s.name == "ssm_vcr_calls_total"
    }
    assert calls == {
        ("DeregisterTaskFromMaintenanceWindow", "replayed"): 2.0,
        ("DescribeMaintenanceWindowTasks", "replayed"): 1.0,
    }
    assert families["ssm_vcr_call_duration_seconds"].type == "histogram"
    count = [s.value for s in families["ssm_vcr_call_duration_seconds"].samples if s.name.endswith("_count")]
    assert count == [3.0]
    # Both deregistrations were audited: two writes, none failed.
    writes = [s.value for s in families["ssm_vcr_audit_write_duration_seconds"].samples if s.name.endswith("_count")]
    assert writes == [2.0]
    assert families["ssm_vcr_open_connections"].samples[0].value >= 1

    status, stdout, stderr = finish(proxy)

    assert status == 3, stderr
    assert "3 of 7 interaction(s) used" in stdout, stdout
    for index, operation in [(0, "CreateMaintenanceWindow"), (1, "RegisterTaskWithMaintenanceWindow"),
                             (2, "RegisterTaskWithMaintenanceWindow"), (6, "DescribeMaintenanceWindowTasks")]:
        assert f"unused: interaction {index} ({operation})" in stdout, stdout
    assert "4 recorded interaction(s) were never used (--fail-on-unused)" in stderr
    report = json.loads(report_file.read_text())
    assert [u["index"] for u in report["cassettes"][0]["unused"]] == [0, 1, 2, 6]


def test_a_reset_lets_a_suite_rerun_its_flow_and_the_run_passes(tmp_path):
    proxy = Proxy(tmp_path / "audit.jsonl", "--fail-on-miss")
    ssm = client(proxy.url)
    deregister_twice(ssm)
    assert post(proxy, "cassettes/maintenance-window-flow/reset") == {
        "cassette": "maintenance-window-flow", "rewound": True}
    deregister_twice(ssm)
    _, health = get(proxy, "health")
    assert json.loads(health)["status"] == "ok"

    status, stdout, stderr = finish(proxy)

    assert status == 0, stderr
    assert stdout.startswith("run report (replay mode): 4 call(s), 4 replayed\n"), stdout


SHIPPED_FLOW_TEST = '''
import boto3

WINDOW, TASK = "mw-0c50858d01e8a7b6f", "50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c"


def test_the_shipped_flow():
    ssm = boto3.client("ssm")
    window = ssm.create_maintenance_window(Name="nightly-patching", Schedule="cron(0 2 ? * SUN *)",
                                           Duration=2, Cutoff=1, AllowUnassociatedTargets=False)["WindowId"]
    for arn in ["AWS-RunPatchBaseline", "AWS-RunShellScript"]:
        ssm.register_task_with_maintenance_window(
            WindowId=window, Targets=[{"Key": "InstanceIds", "Values": ["i-0123456789abcdef0"]}],
            TaskArn=arn, TaskType="RUN_COMMAND", MaxConcurrency="1", MaxErrors="1")
    ssm.describe_maintenance_window_tasks(WindowId=window)
    ssm.deregister_task_from_maintenance_window(WindowId=window, WindowTaskId=TASK)
    try:
        ssm.deregister_task_from_maintenance_window(WindowId=window, WindowTaskId=TASK)
    except ssm.exceptions.DoesNotExistException:
        pass
    ssm.describe_maintenance_window_tasks(WindowId=window)
'''


def test_the_readme_ci_job_runs_as_written_and_fails_only_on_drift(tmp_path):
    """The README's CI block, unchanged, in a project folder with the shipped config and
    cassette and a test of its own: `ssm-vcr` and `pytest` found on PATH, as a job has them."""
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    shutil.copytree(ROOT / "cassettes", tmp_path / "cassettes",
                    ignore=lambda _, names: [n for n in names if n != "maintenance-window-flow.json"])
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_flow.py").write_text(SHIPPED_FLOW_TEST)
    env = user_env("unused")
    env.pop("AWS_ENDPOINT_URL_SSM")
    env["PATH"] = os.pathsep.join([str(pathlib.Path(BIN).parent), str(pathlib.Path(sys.executable).parent),
                                   env["PATH"]])
    job = readme_block("ci-job")

    def run():
        return subprocess.run(["bash", "-c", job], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)

    passed = run()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "1 passed" in passed.stdout
    assert "run report (replay mode): 7 call(s), 7 replayed" in passed.stdout
    assert not (tmp_path / "target" / "ssm-vcr.url").exists(), "the ready file is removed at exit"
    report = json.loads((tmp_path / "target" / "ssm-vcr-report.json").read_text())
    assert report["cassettes"][0]["unused"] == []

    # A test that stops calling one recording fails the step with exit 3, naming it.
    (tmp_path / "tests" / "test_flow.py").write_text(
        SHIPPED_FLOW_TEST.rsplit("    ssm.describe_maintenance_window_tasks(WindowId=window)", 1)[0])
    drifted = run()
    assert drifted.returncode == 3, drifted.stdout + drifted.stderr
    assert "unused: interaction 6 (DescribeMaintenanceWindowTasks)" in drifted.stdout
