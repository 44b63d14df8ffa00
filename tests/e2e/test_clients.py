"""Unmodified aws-cli and boto3 against the proxy replaying the shipped cassette."""

import os
import pathlib
import re
import subprocess
import sys

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

ROOT = pathlib.Path(__file__).resolve().parents[2]
WINDOW = "mw-0c50858d01e8a7b6f"
TASK_1 = "50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c"
UNRECORDED_TASK = "8c9e5a61-1f0d-4b7e-9a3c-2d4f6b8e0a18"


def readme_block(name):
    """The fenced block after `<!-- name -->` in the README: the tests run what users read."""
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {name} -->\s*```\w*\n(.*?)```", text, re.S)
    assert match, f"README has no block marked {name}"
    return match.group(1)


def ssm_client(env, mode, max_attempts=3):
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    config = botocore.config.Config(retries={"mode": mode, "max_attempts": max_attempts})
    return session.client("ssm", endpoint_url=env["AWS_ENDPOINT_URL_SSM"], config=config)


@pytest.mark.parametrize("mode", ["standard", "legacy", "adaptive"])
def test_a_replay_miss_is_not_retried_and_explains_itself(proxy, client_env, mode):
    client = ssm_client(client_env, mode, max_attempts=5)
    with pytest.raises(ClientError) as caught:
        client.deregister_task_from_maintenance_window(WindowId=WINDOW, WindowTaskId=UNRECORDED_TASK)
    error = caught.value.response
    assert error["Error"]["Code"] == "ReplayMissException"
    assert error["ResponseMetadata"]["RetryAttempts"] == 0
    assert "cassette 'maintenance-window-flow'" in error["Error"]["Message"]
    assert f'$.WindowTaskId: sent "{UNRECORDED_TASK}", recorded "{TASK_1}"' in error["Error"]["Message"]
    proxy.stop()
    assert proxy.requests_seen() == 1


def test_boto3_deregisters_twice_200_then_does_not_exist(proxy, client_env):
    client = ssm_client(client_env, "standard")
    first = client.deregister_task_from_maintenance_window(WindowId=WINDOW, WindowTaskId=TASK_1)
    assert (first["WindowId"], first["WindowTaskId"]) == (WINDOW, TASK_1)
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(client.exceptions.DoesNotExistException) as caught:
        client.deregister_task_from_maintenance_window(WindowId=WINDOW, WindowTaskId=TASK_1)
    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == 0


def test_boto3_gets_aws_validation_text_for_the_seed_sample_ids(proxy, client_env):
    client = ssm_client(client_env, "standard")
    with pytest.raises(ClientError) as caught:
        client.deregister_task_from_maintenance_window(
            WindowId="mw-0c50858d01EXAMPLE", WindowTaskId="50772993-c6b5-4a2a-8d04-7bfd7EXAMPLE"
        )
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        "2 validation errors detected: "
        "Value 'mw-0c50858d01EXAMPLE' at 'windowId' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^mw-[0-9a-f]{17}$; "
        "Value '50772993-c6b5-4a2a-8d04-7bfd7EXAMPLE' at 'windowTaskId' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: "
        r"^[0-9a-fA-F]{8}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{12}$"
    )


def aws(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "awscli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_readme_aws_cli_quick_start_runs_as_written(proxy, client_env):
    script = readme_block("quickstart-aws-cli").replace("http://127.0.0.1:4590", proxy.url)
    env = dict(client_env)
    env["PATH"] = f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    # The README exports credentials itself; start from an environment without them.
    for key in ("AWS_ENDPOINT_URL_SSM", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        env.pop(key)
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    out, err = result.stdout, result.stderr
    assert f'"WindowTaskId": "{TASK_1}"' in out, out + err
    assert "An error occurred (DoesNotExistException) when calling the DeregisterTaskFromMaintenanceWindow operation" in err
    assert "An error occurred (ValidationException)" in err
    assert "Value 'mw-0c50858d01EXAMPLE' at 'windowId' failed to satisfy constraint" in err
    assert "An error occurred (ReplayMissException)" in err


def test_the_quick_starts_run_one_after_the_other_on_one_proxy_with_the_rewind_between(proxy, client_env):
    aws_cli = readme_block("quickstart-aws-cli").replace("http://127.0.0.1:4590", proxy.url)
    env = dict(client_env)
    env["PATH"] = f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    result = subprocess.run(["bash", "-c", aws_cli], env=env, capture_output=True, text=True, timeout=120)
    assert "An error occurred (ReplayMissException)" in result.stderr
    boto3_start = readme_block("quickstart-boto3")
    result = subprocess.run([sys.executable, "-c", boto3_start], env=client_env, capture_output=True, text=True,
                            timeout=60)
    # Without the rewind, the second quick start misses, and the miss says how to start over.
    assert "ReplayMissException" in result.stderr
    assert "POST /__ssm-vcr/cassettes/maintenance-window-flow/reset" in result.stderr
    rewind = readme_block("quickstart-reset").replace("http://127.0.0.1:4590", proxy.url)
    subprocess.run(["bash", "-c", rewind], env=env, check=True, capture_output=True, timeout=60)
    result = subprocess.run([sys.executable, "-c", boto3_start], env=client_env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"deregistered {TASK_1}", "second call: DoesNotExistException"]


def test_aws_cli_endpoint_url_flag_works_too(proxy, client_env):
    env = dict(client_env)
    env.pop("AWS_ENDPOINT_URL_SSM")
    result = aws(
        env,
        "ssm",
        "deregister-task-from-maintenance-window",
        "--endpoint-url",
        proxy.url,
        "--window-id",
        WINDOW,
        "--window-task-id",
        TASK_1,
    )
    assert result.returncode == 0, result.stderr
    assert f'"WindowId": "{WINDOW}"' in result.stdout


def test_the_readme_boto3_quick_start_runs_as_written(proxy, client_env):
    script = readme_block("quickstart-boto3")
    result = subprocess.run(
        [sys.executable, "-c", script], env=client_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"deregistered {TASK_1}",
        "second call: DoesNotExistException",
    ]
