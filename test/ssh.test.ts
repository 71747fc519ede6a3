import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { sshScript } from "../domain/ssh";
import { Sshd, startSshd, tempDir } from "./support/services";

describe("commands on machines outside the cluster (ssh with a pinned host key)", () => {
  let sshd: Sshd;
  let key: string;
  before(async () => {
    sshd = await startSshd();
    key = readFileSync(sshd.clientKeyFile, "utf8");
  });
  after(async () => sshd?.stop());

  const target = () => ({ host: "127.0.0.1", port: sshd.port, user: sshd.user, hostKey: sshd.knownHostsLine.split(" ").slice(1).join(" ") });
  const run = (script: string, env: Record<string, string> = {}) =>
    spawnSync("sh", ["-c", script], { env: { PATH: process.env.PATH, SSH_PRIVATE_KEY: key, ...env }, encoding: "utf8" });

  it("runs the script remotely with forwarded variables, quotes and all", () => {
    const marker = join(tempDir("ssh-marker"), "out");
    const result = run(
      sshScript(target(), `printf '%s|%s' "$PULUMI_COMMAND_STDOUT" "$SECRET" > ${marker}\necho done`, ["PULUMI_COMMAND_STDOUT", "SECRET"]),
      { PULUMI_COMMAND_STDOUT: '{"id": 7}', SECRET: "it's $HOME \"quoted\"" },
    );
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), "done");
    assert.equal(readFileSync(marker, "utf8"), '{"id": 7}|it\'s $HOME "quoted"');
  });

  it("refuses a server whose host key is not the pinned one, before running anything", () => {
    const marker = join(tempDir("ssh-marker"), "never");
    const other = { ...target(), hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGhvbWVsYWItYmFja3Vwcy1ub3QtdGhlLXJpZ2h0LWtleQ" };
    const result = run(sshScript(other, `touch ${marker}`));
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /host key|Host key verification failed/i);
    assert.throws(() => readFileSync(marker));
  });

  it("keeps the private key and forwarded secrets out of the command text and leaves no key file behind", () => {
    const script = sshScript(target(), "true", ["SECRET"]);
    assert.ok(!script.includes(key.trim().split("\n")[1]));
    const tmp = tempDir("ssh-tmp");
    const result = spawnSync("sh", ["-c", script], { env: { PATH: process.env.PATH, SSH_PRIVATE_KEY: key, SECRET: "s3cr3t", TMPDIR: tmp }, encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(spawnSync("ls", ["-A", tmp], { encoding: "utf8" }).stdout.trim(), "");
  });

  it("fails when the remote script fails, with its exit status", () => {
    const result = run(sshScript(target(), "echo oops >&2\nexit 3"));
    assert.equal(result.status, 3);
    assert.match(result.stderr, /oops/);
  });
});
