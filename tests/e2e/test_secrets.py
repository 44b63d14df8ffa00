"""Parameter Store through the proxy, recorded against moto with boto3: a SecureString value
must reach no file and no line of output, and the recorded flow must replay offline with the
client's own secrets given back, so that a tool which compares what it reads with what it wants
does exactly what it did against AWS."""

import json

import boto3
import botocore.config
import pytest

from conftest import Proxy

SECRET = "correct-horse-battery-staple-7f3a"
# Characters that JSON must escape: the value comes back exactly, escaped as AWS escapes it.
OTHER = 's3cond "secret" \\ value\t19c2'
SECRETS = {"/app/db/password": SECRET, "/app/api/token": OTHER}


def client(endpoint):
    session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x",
                                    region_name="us-east-1")
    return session.client("ssm", endpoint_url=endpoint,
                          config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 1}))


def converge(endpoint):
    """What configuration tools do: put each secret, read it back decrypted, put it again only
    when what is stored differs, list by path, delete. Everything the tool saw, in order."""
    ssm = client(endpoint)
    seen = []
    for name, value in SECRETS.items():
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    for name, value in SECRETS.items():
        stored = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        if stored != value:
            ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
            seen.append(("put again", name))
        else:
            seen.append(("unchanged", name, stored))
    listed = ssm.get_parameters_by_path(Path="/app", Recursive=True, WithDecryption=True)["Parameters"]
    seen.append(("listed", sorted((p["Name"], p["Value"]) for p in listed)))
    ssm.delete_parameters(Names=list(SECRETS))
    return seen


def places_without_secrets(places):
    for name, text in places.items():
        for secret in SECRETS.values():
            escaped = json.dumps(secret)[1:-1]
            assert secret not in text and escaped not in text, f"{secret!r} found in {name}"


def test_secure_strings_never_reach_disk_or_output_and_the_flow_replays_with_them(tmp_path, moto):
    cassettes = tmp_path / "cassettes"
    cassettes.mkdir()
    trace = {"RUST_LOG": "trace"}
    proxy = Proxy(tmp_path / "audit-record.jsonl", "--mode", "record", "--upstream", moto,
                  "--cassette-dir", str(cassettes), "--cassette", "parameters", extra_env=trace)
    try:
        recorded = converge(proxy.url)
        # While the proxy runs, the recordings are in the journal beside the cassette.
        journal = (cassettes / "parameters.json.journal").read_text()
    finally:
        proxy.stop()
    assert '"index":0,' in journal, journal
    assert not (cassettes / "parameters.json.journal").exists(), "stopping compacts the journal away"
    assert recorded == [
        ("unchanged", "/app/db/password", SECRET),
        ("unchanged", "/app/api/token", OTHER),
        ("listed", sorted(SECRETS.items())),
    ], "moto answered the real values"

    # No secret in the cassette folder, the audit log, or anything the proxy printed at trace level.
    places = {path.name: path.read_text() for path in [*cassettes.iterdir(), tmp_path / "audit-record.jsonl"]}
    places["the journal, while recording"] = journal
    places["proxy stdout"] = proxy.stdout
    places["proxy stderr (RUST_LOG=trace)"] = proxy.log
    places_without_secrets(places)
    cassette = json.loads((cassettes / "parameters.json").read_text())
    assert cassette["model"]["botocore"] == "1.44.8"
    put = cassette["interactions"][0]
    assert put["operation"] == "PutParameter" and put["request"]["body"]["Value"] == "REDACTED-1"

    report = tmp_path / "report.json"
    proxy = Proxy(tmp_path / "audit-replay.jsonl", "--cassette-dir", str(cassettes), "--cassette", "parameters",
                  "--fail-on-miss", "--fail-on-unused", "--report", str(report), extra_env=trace)
    try:
        replayed = converge(proxy.url)
    finally:
        proxy.stop()  # exit 0: no miss, every recording used
    # The same flow, offline: every value read back is the one the tool put, so nothing is put
    # again, and what it listed is what it listed against moto.
    assert replayed == recorded
    assert proxy.requests_seen() == 6
    secrets = json.loads(report.read_text())["cassettes"][0]["secrets"]
    assert secrets == {"bound": 2, "served_unbound": [], "conflicts": []}
    places_without_secrets({
        "the replay's report": report.read_text(),
        "the replay's audit log": (tmp_path / "audit-replay.jsonl").read_text(),
        "the replay's stdout": proxy.stdout,
        "the replay's stderr (RUST_LOG=trace)": proxy.log,
        "the cassette after the replay": (cassettes / "parameters.json").read_text(),
    })


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
