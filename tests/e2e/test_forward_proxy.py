"""The forward-proxy mode with real clients configured only by HTTPS_PROXY and AWS_CA_BUNDLE:
aws-cli and boto3 replay the flow through an intercepted TLS connection, and the issued
certificate chain passes the strict X.509 checks that Python 3.13 turns on by default."""

import http.client
import json
import ssl
import subprocess
import sys
import urllib.parse

import boto3
import pytest

from conftest import BIN, Proxy, user_env

WINDOW, TASK = "mw-0c50858d01e8a7b6f", "50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c"
HOST = "ssm.us-east-1.amazonaws.com"


@pytest.fixture
def ca(tmp_path):
    """`ssm-vcr ca init`, as the docs say to run once: the CA certificate's path."""
    ca_dir = tmp_path / "ca"
    out = subprocess.run([BIN, "ca", "init", "--ca-dir", str(ca_dir)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture
def forward_proxy(tmp_path, ca):
    proxy = Proxy(tmp_path / "audit.jsonl", "--ca-dir", str(tmp_path / "ca"))
    yield proxy
    if proxy.process.poll() is None:
        proxy.stop()


def proxied_env(proxy, ca):
    """What a user exports for the forward-proxy mode: no endpoint, only the proxy and the CA."""
    env = user_env("unused")
    del env["AWS_ENDPOINT_URL_SSM"]
    env.update(HTTPS_PROXY=proxy.url, AWS_CA_BUNDLE=ca, NO_PROXY="")
    return env


def deregister_with_aws_cli(env):
    args = ["deregister-task-from-maintenance-window", "--window-id", WINDOW, "--window-task-id", TASK]
    results = []
    for _ in range(2):
        run = subprocess.run([sys.executable, "-m", "awscli", "ssm", *args], env=env,
                             capture_output=True, text=True, timeout=120)
        results.append((run.returncode, run.stdout, run.stderr.strip()))
    return results


def test_aws_cli_through_https_proxy_prints_what_it_prints_against_the_endpoint(tmp_path, forward_proxy, ca):
    through_proxy = deregister_with_aws_cli(proxied_env(forward_proxy, ca))
    reverse = Proxy(tmp_path / "audit-reverse.jsonl")
    try:
        against_endpoint = deregister_with_aws_cli(user_env(reverse.url))
    finally:
        reverse.stop()

    assert through_proxy == against_endpoint
    assert through_proxy[0][0] == 0 and TASK in through_proxy[0][1]
    assert "DoesNotExistException" in through_proxy[1][2]
    forward_proxy.stop()
    audit = [json.loads(line) for line in open(tmp_path / "audit.jsonl")]
    assert [(r["event"], r.get("status")) for r in audit] == [("start", None), ("outcome", 200), ("outcome", 400)]


def test_boto3_through_https_proxy_gets_the_typed_error(forward_proxy, ca, monkeypatch):
    for key, value in proxied_env(forward_proxy, ca).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SSM", raising=False)
    ssm = boto3.session.Session().client("ssm")
    assert ssm.meta.endpoint_url == f"https://{HOST}"

    ssm.deregister_task_from_maintenance_window(WindowId=WINDOW, WindowTaskId=TASK)
    with pytest.raises(ssm.exceptions.DoesNotExistException):
        ssm.deregister_task_from_maintenance_window(WindowId=WINDOW, WindowTaskId=TASK)


def test_the_issued_chain_passes_strict_x509_verification(forward_proxy, ca):
    context = ssl.create_default_context(cafile=ca)
    # Python 3.13's defaults: strict RFC 5280 checks, and a trusted intermediate may end a chain.
    context.verify_flags |= ssl.VERIFY_X509_STRICT | getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0)
    proxy = urllib.parse.urlsplit(forward_proxy.url)
    connection = http.client.HTTPSConnection(proxy.hostname, proxy.port, context=context, timeout=10)
    connection.set_tunnel(HOST, 443)
    body = json.dumps({"WindowId": WINDOW, "WindowTaskId": TASK})
    connection.request("POST", "/", body, {
        "x-amz-target": "AmazonSSM.DeregisterTaskFromMaintenanceWindow",
        "content-type": "application/x-amz-json-1.1",
    })
    response = connection.getresponse()
    assert response.status == 200, response.read()
    certificate = connection.sock.getpeercert()
    assert dict(x[0] for x in certificate["subject"])["commonName"] == HOST
    assert ("DNS", HOST) in certificate["subjectAltName"]
    connection.close()


def test_replay_mode_refuses_a_tunnel_to_any_other_host(forward_proxy):
    proxy = urllib.parse.urlsplit(forward_proxy.url)
    connection = http.client.HTTPSConnection(proxy.hostname, proxy.port, timeout=10)
    connection.set_tunnel("sts.us-east-1.amazonaws.com", 443)
    with pytest.raises(OSError, match="403"):
        connection.request("GET", "/")
