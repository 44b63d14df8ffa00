"""Signed audit checkpoints as a third party checks them: `audit prove`'s inclusion proof and the
checkpoint's signature, verified by Sigstore's RFC 6962 verifier and Node's Ed25519, not by
ssm-vcr."""

import json
import subprocess

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import BIN, ROOT, Proxy, user_env

WINDOW = "mw-0c50858d01e8a7b6f"
TASK_1 = "50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c"
JS = ROOT / "tests" / "e2e" / "js"


def ssm_vcr(*args):
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.fixture
def signed(tmp_path):
    """A replayed deregistration, twice, through a proxy that signs its audit log."""
    key = tmp_path / "audit.key"
    made = ssm_vcr("audit", "keygen", "--out", key, "--name", "e2e/ssm-vcr/audit")
    assert made.returncode == 0, made.stderr
    log = tmp_path / "audit.jsonl"
    proxy = Proxy(log, "--audit-signing-key", key)
    env = user_env(proxy.url)
    client = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    ).client("ssm", endpoint_url=proxy.url)
    client.deregister_task_from_maintenance_window(WindowId=WINDOW, WindowTaskId=TASK_1)
    with pytest.raises(ClientError):
        client.deregister_task_from_maintenance_window(WindowId=WINDOW, WindowTaskId=TASK_1)
    proxy.stop()
    return log, tmp_path / "audit.jsonl.checkpoint", tmp_path / "audit.key.pub"


def check_independently(proof, checkpoint, public_key, tmp_path):
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(json.dumps(proof))
    return subprocess.run(
        ["node", "check_inclusion.cjs", proof_file, checkpoint, public_key],
        cwd=JS, capture_output=True, text=True, timeout=60,
    )


def test_an_inclusion_proof_passes_sigstores_rfc_6962_verifier(signed, tmp_path):
    log, checkpoint, public_key = signed
    records = [json.loads(line) for line in log.read_text().splitlines()]
    deregistration = next(r for r in records if r["event"] == "outcome")
    proved = ssm_vcr("audit", "prove", log, "--seq", deregistration["seq"],
                     "--checkpoint", checkpoint, "--public-key", public_key)
    assert proved.returncode == 0, proved.stderr
    proof = json.loads(proved.stdout)
    assert json.loads(proof["record"])["what"]["WindowTaskId"] == TASK_1

    checked = check_independently(proof, checkpoint, public_key, tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"ok: ") and f"record {deregistration['seq']} is in the tree" in checked.stdout

    # The checker can fail: one changed byte of the record breaks the proof.
    tampered = dict(proof, record=proof["record"].replace(TASK_1, TASK_1[:-1] + "d"))
    refused = check_independently(tampered, checkpoint, public_key, tmp_path)
    assert refused.returncode != 0 and "calculated root hash does not match" in refused.stderr


def test_the_sidecar_checkpoint_verifies_the_log_it_was_written_beside(signed):
    log, checkpoint, public_key = signed
    verified = ssm_vcr("audit", "verify", log, "--checkpoint", checkpoint, "--public-key", public_key)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "matches the log" in verified.stdout
