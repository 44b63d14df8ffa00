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

from conftest import BIN, ROOT, Proxy, user_env

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


def proxied_env(proxy_url, ca, **more):
    """What a user exports for the forward-proxy mode: no endpoint, only the proxy and the CA."""
    env = user_env("unused")
    del env["AWS_ENDPOINT_URL_SSM"]
    env.update(HTTPS_PROXY=proxy_url, AWS_CA_BUNDLE=ca, NO_PROXY="", **more)
    return env


# The client's own identity, which moto must see under the forward proxy (it has none).
CLIENT = {"AWS_DEFAULT_REGION": "us-east-2", "AWS_ACCESS_KEY_ID": "AKIDCLIENTEXAMPLE"}


def deregister_with_aws_cli(env):
    args = ["deregister-task-from-maintenance-window", "--window-id", WINDOW, "--window-task-id", TASK]
    results = []
    for _ in range(2):
        run = subprocess.run([sys.executable, "-m", "awscli", "ssm", *args], env=env,
                             capture_output=True, text=True, timeout=120)
        results.append((run.returncode, run.stdout, run.stderr.strip()))
    return results


def test_aws_cli_through_https_proxy_prints_what_it_prints_against_the_endpoint(tmp_path, forward_proxy, ca):
    through_proxy = deregister_with_aws_cli(proxied_env(forward_proxy.url, ca))
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
    for key, value in proxied_env(forward_proxy.url, ca).items():
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


def tls_moto(tmp_path):
    """moto over TLS under SSM's real host name (and 127.0.0.1, where it listens), with a
    certificate from a test CA of its own; returns its URL, the CA file, the Authorization
    headers it received, and a stop function."""
    import datetime
    import ipaddress
    import threading
    import urllib.request

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "moto test CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SSM_HOST_2)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(SSM_HOST_2), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = tmp_path / "moto-ca.pem", tmp_path / "moto.pem", tmp_path / "moto-key.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))

    authorizations = []
    moto_app = DomainDispatcherApplication(create_backend_app)

    def app(environ, start_response):
        authorizations.append(environ.get("HTTP_AUTHORIZATION", ""))
        return moto_app(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=(str(cert_file), str(key_file)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.port}"
    seed = urllib.request.Request(f"{url}/moto-api/seed?a=42", method="POST")
    import ssl as ssl_module
    urllib.request.urlopen(seed, timeout=10, context=ssl_module.create_default_context(cafile=str(ca_file)))
    authorizations.clear()
    return url, str(ca_file), authorizations, server.shutdown


SSM_HOST_2 = "ssm.us-east-2.amazonaws.com"


def start_proxy(tmp_path, *args):
    """The binary with an environment that holds no AWS credential and no AWS configuration."""
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(tmp_path), AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               AWS_EC2_METADATA_DISABLED="true", RUST_LOG="trace")
    process = subprocess.Popen(
        [BIN, "serve", "--listen", "127.0.0.1:0", "--ca-dir", str(tmp_path / "ca"), "--cassette-dir", str(tmp_path),
         "--cassette", "forward-proxy-flow", "--audit-log", str(tmp_path / "audit.jsonl"), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line.startswith("listening on "), process.stderr.read()
    return process, line.split()[-1]


def stop_proxy(process):
    process.send_signal(2)
    _, log = process.communicate(timeout=30)
    assert process.returncode == 0, log
    return log


def record_then_replay(tmp_path, run):
    """`run(proxy_url)` through a recording forward proxy that holds no credentials, against
    moto over TLS, then again through a replaying one with moto gone: both results, and the
    Authorization headers moto received."""
    moto_url, moto_ca, authorizations, stop_moto = tls_moto(tmp_path)
    logs = []
    try:
        proxy, url = start_proxy(tmp_path, "--mode", "record", "--forward-proxy-only",
                                 "--upstream", moto_url, "--ca-file", moto_ca)
        try:
            recorded = run(url)
        finally:
            logs.append(stop_proxy(proxy))
    finally:
        stop_moto()
    proxy, url = start_proxy(tmp_path)
    try:
        replayed = run(url)
    finally:
        logs.append(stop_proxy(proxy))
    assert_ca_key_nowhere(tmp_path, "".join(logs))
    return recorded, replayed, authorizations


def assert_ca_key_nowhere(tmp_path, logs):
    """The CA key is 0600 and none of its lines is in a cassette, the audit log or the proxy's
    own output, which ran at RUST_LOG=trace."""
    key_file = tmp_path / "ca" / "ca-key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key_lines = [line for line in key_file.read_text().splitlines() if line and not line.startswith("-----")]
    written = logs + "".join(p.read_text() for p in tmp_path.glob("*.json*"))
    assert "audit.jsonl" in [p.name for p in tmp_path.glob("*.json*")]
    for line in key_lines:
        assert line not in written, "a line of the CA key was written"


def test_a_flow_recorded_through_the_forward_proxy_without_credentials_replays_identically(tmp_path, ca):
    from test_moto import assert_same_output, workflow

    recorded, replayed, authorizations = record_then_replay(
        tmp_path, lambda url: workflow(url, environment=lambda proxy_url: proxied_env(proxy_url, ca, **CLIENT)))

    assert [step["exit"] for step in recorded] == [0, 0, 0, 0, 0, 255, 0], recorded
    # The proxy had no credentials: every call reached moto under the client's own signature.
    assert authorizations and all("Credential=AKIDCLIENTEXAMPLE/" in a for a in authorizations), authorizations
    audit = [json.loads(line) for line in open(tmp_path / "audit.jsonl")]
    identities = [r.get("identity") for r in audit if r["event"] == "outcome"]
    assert identities[:3] == ["authenticated", "authenticated", "authenticated"], audit
    # Replayed offline, the same calls are only claimed: nobody checked them.
    assert identities[3:] == ["claimed", "claimed", "claimed"], audit
    assert_same_output(recorded, replayed)


def test_boto3_records_through_the_forward_proxy_and_replays_the_same_answers(tmp_path, ca, monkeypatch):
    import botocore.config

    def flow(proxy_url):
        env = proxied_env(proxy_url, ca, **CLIENT)
        for key in [k for k in list(__import__("os").environ) if k.startswith("AWS_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        ssm = boto3.session.Session().client("ssm", config=botocore.config.Config(retries={"max_attempts": 1}))
        answers = []
        window = ssm.create_maintenance_window(Name="boto3", Schedule="rate(1 day)", Duration=2, Cutoff=1,
                                               AllowUnassociatedTargets=False, ClientToken="boto3-create")
        answers.append(window)
        task = ssm.register_task_with_maintenance_window(
            WindowId=window["WindowId"], TaskArn="AWS-RunShellScript", TaskType="RUN_COMMAND",
            Targets=[{"Key": "WindowTargetIds", "Values": ["none"]}], ClientToken="boto3-task")
        answers.append(task)
        answers.append(ssm.deregister_task_from_maintenance_window(
            WindowId=window["WindowId"], WindowTaskId=task["WindowTaskId"]))
        answers.append(ssm.describe_maintenance_window_tasks(WindowId=window["WindowId"]))
        return answers

    recorded, replayed, authorizations = record_then_replay(tmp_path, flow)

    assert len(authorizations) == 4 and all("Credential=AKIDCLIENTEXAMPLE/" in a for a in authorizations)
    # What boto3 returns, request ids included; of the HTTP headers, only those a cassette
    # keeps (docs/cassettes.md) replay, so the live date and server name are left out.
    for answers in (recorded, replayed):
        for answer in answers:
            del answer["ResponseMetadata"]["HTTPHeaders"]
    assert replayed == recorded
    assert recorded[3]["Tasks"] == []


def test_the_javascript_sdk_v3_through_https_proxy_gets_the_typed_error(forward_proxy, ca):
    """The setup docs/forward-proxy.md gives: an https-proxy-agent, and NODE_EXTRA_CA_CERTS."""
    env = proxied_env(forward_proxy.url, ca, AWS_REGION="us-east-1", NODE_EXTRA_CA_CERTS=ca)
    run = subprocess.run(["node", "flow.mjs"], cwd=ROOT / "tests" / "e2e" / "js", env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    first, second = [json.loads(line) for line in run.stdout.splitlines()]
    assert first == {"WindowTaskId": TASK}
    assert second["error"] == "DoesNotExistException", second
