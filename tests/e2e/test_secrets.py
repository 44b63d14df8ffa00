"""Parameter Store through the proxy, recorded against moto with boto3: a SecureString value
must reach no file and no line of output, and the recorded flow must replay offline."""

import json

import boto3
import botocore.config
import pytest

from conftest import Proxy

SECRET = "correct-horse-battery-staple-7f3a"
OTHER = "s3cond-secret-value-19c2"


def client(endpoint):
    session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x",
                                    region_name="us-east-1")
    return session.client("ssm", endpoint_url=endpoint,
                          config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 1}))


def parameter_flow(endpoint):
    """What a deployment script does: write two secrets, read them back three ways."""
    ssm = client(endpoint)
    ssm.put_parameter(Name="/app/db/password", Value=SECRET, Type="SecureString")
    ssm.put_parameter(Name="/app/api/token", Value=OTHER, Type="SecureString")
    one = ssm.get_parameter(Name="/app/db/password", WithDecryption=True)["Parameter"]
    again = ssm.get_parameter(Name="/app/db/password", WithDecryption=True)["Parameter"]
    many = ssm.get_parameters(Names=["/app/db/password", "/app/api/token"], WithDecryption=True)["Parameters"]
    by_path = ssm.get_parameters_by_path(Path="/app/db", WithDecryption=True)["Parameters"]
    return {
        "one": (one["Name"], one["Type"], one["Value"]),
        "again": again["Value"],
        "many": sorted((p["Name"], p["Value"]) for p in many),
        "by_path": [(p["Name"], p["Value"]) for p in by_path],
    }


def test_secure_strings_never_reach_disk_or_output_and_the_flow_replays(tmp_path, moto):
    cassettes = tmp_path / "cassettes"
    cassettes.mkdir()
    trace = {"RUST_LOG": "trace"}
    proxy = Proxy(tmp_path / "audit-record.jsonl", "--mode", "record", "--upstream", moto,
                  "--cassette-dir", str(cassettes), "--cassette", "parameters", extra_env=trace)
    try:
        recorded = parameter_flow(proxy.url)
        # While the proxy runs, the recordings are in the journal beside the cassette.
        journal = (cassettes / "parameters.json.journal").read_text()
    finally:
        proxy.stop()
    assert '"index":0,' in journal, journal
    assert not (cassettes / "parameters.json.journal").exists(), "stopping compacts the journal away"
    assert recorded["one"] == ("/app/db/password", "SecureString", SECRET), "moto answered the real value"
    assert recorded["many"] == sorted([("/app/db/password", SECRET), ("/app/api/token", OTHER)])

    # No secret in the cassette folder, the audit log, or anything the proxy printed at trace level.
    places = {path.name: path.read_text() for path in [*cassettes.iterdir(), tmp_path / "audit-record.jsonl"]}
    places["the journal, while recording"] = journal
    places["proxy stdout"] = proxy.stdout
    places["proxy stderr (RUST_LOG=trace)"] = proxy.log
    for name, text in places.items():
        for secret in (SECRET, OTHER):
            assert secret not in text, f"{secret!r} found in {name}"
    cassette = json.loads((cassettes / "parameters.json").read_text())
    assert cassette["model"]["botocore"] == "1.44.8"
    put = cassette["interactions"][0]
    assert put["operation"] == "PutParameter" and put["request"]["body"]["Value"] == "REDACTED-1"

    proxy = Proxy(tmp_path / "audit-replay.jsonl", "--cassette-dir", str(cassettes), "--cassette", "parameters")
    try:
        replayed = parameter_flow(proxy.url)
    finally:
        proxy.stop()
    # The same flow, offline: every answer in order, each secret as its placeholder, the same
    # secret always as the same placeholder.
    assert replayed == {
        "one": ("/app/db/password", "SecureString", "REDACTED-1"),
        "again": "REDACTED-1",
        "many": [("/app/api/token", "REDACTED-2"), ("/app/db/password", "REDACTED-1")],
        "by_path": [("/app/db/password", "REDACTED-1")],
    }
    assert proxy.requests_seen() == 6


def test_an_invalid_parameter_call_gets_aws_text_without_its_value(tmp_path, moto):
    proxy = Proxy(tmp_path / "audit.jsonl", "--mode", "passthrough", "--upstream", moto)
    try:
        session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x",
                                        region_name="us-east-1")
        ssm = session.client("ssm", endpoint_url=proxy.url,
                             config=botocore.config.Config(parameter_validation=False))
        with pytest.raises(ssm.exceptions.ClientError) as caught:
            ssm.put_parameter(Name="", Value=SECRET, Type="Secret")
    finally:
        proxy.stop()
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        "2 validation errors detected: "
        "Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1; "
        "Value 'Secret' at 'type' failed to satisfy constraint: "
        "Member must satisfy enum value set: [SecureString, StringList, String]"
    )
    assert SECRET not in proxy.log
