// An independent check of `ssm-vcr audit prove`: Sigstore's RFC 6962 inclusion verifier (the
// one its clients run against Rekor) checks the proof against the checkpoint's root, and
// Node's own Ed25519 (OpenSSL) checks the checkpoint's signed-note signature with the key
// `audit keygen` wrote. Nothing here is ssm-vcr's code.
// usage: node check_inclusion.cjs PROOF.json CHECKPOINT PUBLIC_KEY  (exit 0 when both verify)
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const { verifyMerkleInclusion } = require("@sigstore/verify/dist/tlog/merkle");

const [proofFile, checkpointFile, keyFile] = process.argv.slice(2);
const proof = JSON.parse(fs.readFileSync(proofFile, "utf8"));
const note = fs.readFileSync(checkpointFile, "utf8");

// C2SP signed-note: text, a blank line, then "— <name> <base64(key id ‖ signature)>" lines.
const split = note.indexOf("\n\n");
const text = note.slice(0, split + 1);
const [origin, size, root] = text.split("\n");
// A verifier key: <name>+<key id>+<base64(0x01 ‖ public key)>; the base64 may hold '+'.
const verifier = fs.readFileSync(keyFile, "utf8").trim();
const [name, keyHash] = verifier.split("+", 2);
const rawKey = Buffer.from(verifier.slice(name.length + keyHash.length + 2), "base64");
if (rawKey[0] !== 0x01) throw new Error("not an Ed25519 verifier key");
const publicKey = crypto.createPublicKey({
  key: { kty: "OKP", crv: "Ed25519", x: rawKey.subarray(1).toString("base64url") },
  format: "jwk",
});
const line = note.slice(split + 2).split("\n").find((l) => l.startsWith(`\u2014 ${name} `));
if (!line) throw new Error(`no signature by ${name}`);
const signed = Buffer.from(line.split(" ")[2], "base64");
if (signed.subarray(0, 4).toString("hex") !== keyHash) throw new Error("key id differs");
if (!crypto.verify(null, Buffer.from(text), publicKey, signed.subarray(4))) {
  throw new Error("the checkpoint's signature does not verify");
}

if (String(proof.tree_size) !== size || proof.root !== root) {
  throw new Error(`the proof is for ${proof.tree_size}/${proof.root}, the checkpoint ${size}/${root}`);
}
verifyMerkleInclusion(
  {
    canonicalizedBody: Buffer.from(proof.record, "utf8"),
    inclusionProof: {
      logIndex: String(proof.leaf_index),
      hashes: proof.inclusion_path.map((h) => Buffer.from(h, "base64")),
    },
  },
  { logSize: BigInt(size), logHash: Buffer.from(root, "base64") },
);
console.log(`ok: ${origin} record ${proof.leaf_index + 1} is in the tree of ${size}`);
