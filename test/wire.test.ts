/** How captured property values are written to the plan's artifacts: never a secret, unknowns named. */
import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import { redact, reveal, secretValues } from "../offline/wire";

const SIG = pulumi.runtime.specialSigKey;
const secret = (value: unknown) => ({ [SIG]: pulumi.runtime.specialSecretSig, value });

describe("wire values in artifacts", () => {
  const captured = {
    metadata: { name: "hb-immich" },
    stringData: secret({ "restic-password": "hunter2-restic", "b2-volsync-secret-access-key": "K005-secret" }),
    endpoint: pulumi.runtime.unknownValue,
    bucket: { [SIG]: pulumi.runtime.specialResourceSig, urn: "urn:pulumi:homelab::homelab-backups::aws:s3/bucket:Bucket::b2-volsync" },
    list: [secret("one-time-token"), pulumi.runtime.unknownValue, 3],
  };

  it('writes secrets as "[secret]" (keeping a secret map\'s keys), unknowns as "[unknown]", references as their URN', () => {
    assert.deepEqual(redact(captured), {
      bucket: "urn:pulumi:homelab::homelab-backups::aws:s3/bucket:Bucket::b2-volsync",
      endpoint: "[unknown]",
      list: ["[secret]", "[unknown]", 3],
      metadata: { name: "hb-immich" },
      stringData: { "b2-volsync-secret-access-key": "[secret]", "restic-password": "[secret]" },
    });
    assert.doesNotMatch(JSON.stringify(redact(captured)), /hunter2|K005-secret|one-time-token/);
  });

  it("reveals secrets only for in-memory policy evaluation, and finds every secret leaf for leak scans", () => {
    assert.equal((reveal(captured) as { stringData: Record<string, string> }).stringData["restic-password"], "hunter2-restic");
    assert.equal((reveal(captured) as { endpoint: string }).endpoint, "[unknown]");
    assert.deepEqual([...secretValues(captured)].sort(), ["K005-secret", "hunter2-restic", "one-time-token"]);
  });
});
