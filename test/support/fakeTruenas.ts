/** A fake TrueNAS middleware client (`midclt`) for running the task commands for real. */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A stand-in for TrueNAS's `midclt call`: keeps tasks in a JSON state file, answers query with
 * filters, create with the new object and an incrementing id, update and delete by id, and fails
 * like the real middleware (non-zero exit, InstanceNotFound message) on an unknown id. Like the
 * real cloudsync.query it returns `credentials` as an object and the encryption fields in clear.
 */
const FAKE_MIDCLT = String.raw`#!/usr/bin/env python3
import json, os, sys

STATE = os.environ["FAKE_MIDCLT_STATE"]
LABELS = {"pool.snapshottask": "PeriodicSnapshotTask", "cloudsync": "CloudSyncTask"}


def load():
    with open(STATE) as f:
        return json.load(f)


def save(state):
    with open(STATE, "w") as f:
        json.dump(state, f, indent=1)


def arg(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def field(obj, name):
    for part in name.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def keep(item, filters):
    for name, op, value in filters:
        got = field(item, name)
        if op == "=" and got != value: return False
        if op == "!=" and got == value: return False
        if op == "in" and got not in value: return False
    return True


def not_found(ns, tid):
    sys.stderr.write("Traceback (most recent call last):\n  ...\nmiddlewared.service_exception.InstanceNotFound: "
                     "[ENOENT] None: %s %s does not exist\n" % (LABELS[ns], tid))
    sys.exit(1)


def stored(ns, obj):
    obj = dict(obj)
    if ns == "cloudsync":
        obj["credentials"] = {"id": obj["credentials"], "name": "b2", "provider": "B2", "attributes": {}}
        obj.setdefault("encryption_password", "")
        obj.setdefault("encryption_salt", "")
    else:
        obj.setdefault("state", {"state": "PENDING"})
    return obj


def main():
    argv = sys.argv[1:]
    if len(argv) < 2 or argv[0] != "call":
        sys.stderr.write("usage: midclt call METHOD [ARGS...]\n"); sys.exit(2)
    method, args = argv[1], [arg(a) for a in argv[2:]]
    ns, _, verb = method.rpartition(".")
    state = load()
    state.setdefault("calls", []).append([method] + [a if verb != "create" and verb != "update" else "<payload>" for a in argv[2:]])
    table = state.setdefault(ns, {"next_id": 1, "items": []})
    items = table["items"]
    if verb == "query":
        result = [i for i in items if keep(i, args[0] if args else [])]
    elif verb == "create":
        obj = stored(ns, args[0])
        obj["id"] = table["next_id"]
        table["next_id"] += 1
        items.append(obj)
        result = obj
    elif verb == "update":
        tid, changes = args
        match = [i for i in items if i["id"] == tid]
        if not match: save(state); not_found(ns, tid)
        match[0].update(stored(ns, changes))
        match[0]["id"] = tid
        result = match[0]
    elif verb == "delete":
        tid = args[0]
        if not [i for i in items if i["id"] == tid]: save(state); not_found(ns, tid)
        table["items"] = [i for i in items if i["id"] != tid]
        result = True
    else:
        sys.stderr.write("[ENOMETHOD] Method %r not found\n" % method); sys.exit(1)
    save(state)
    print(json.dumps(result))


main()
`;

export interface Task {
  id: number;
  [key: string]: unknown;
}
export interface FakeState {
  "pool.snapshottask"?: { next_id: number; items: Task[] };
  cloudsync?: { next_id: number; items: Task[] };
  calls?: string[][];
}

export class FakeNas {
  readonly dir = mkdtempSync(join(tmpdir(), "hb-truenas-"));
  readonly statePath = join(this.dir, "state.json");

  constructor() {
    writeFileSync(join(this.dir, "midclt"), FAKE_MIDCLT);
    chmodSync(join(this.dir, "midclt"), 0o755);
    writeFileSync(this.statePath, "{}");
  }

  state(): FakeState {
    return JSON.parse(readFileSync(this.statePath, "utf8")) as FakeState;
  }

  snapshotTasks(): Task[] {
    return this.state()["pool.snapshottask"]?.items ?? [];
  }

  cloudSyncTasks(): Task[] {
    return this.state().cloudsync?.items ?? [];
  }

  /** A task made by hand in the TrueNAS UI (through the fake middleware itself). */
  handMade(method: "pool.snapshottask.create" | "cloudsync.create", payload: object): number {
    const done = spawnSync(join(this.dir, "midclt"), ["call", method, JSON.stringify(payload)], { env: this.env({}), encoding: "utf8" });
    assert.equal(done.status, 0, done.stderr);
    return (JSON.parse(done.stdout) as Task).id;
  }

  env(extra: Record<string, string>): NodeJS.ProcessEnv {
    return { PATH: `${this.dir}:${process.env.PATH ?? ""}`, FAKE_MIDCLT_STATE: this.statePath, ...extra };
  }

  /** Runs a command string exactly as given, like the command provider does over SSH. */
  run(command: string, extra: Record<string, string> = {}, shell = "sh"): { status: number | null; stdout: string; stderr: string } {
    const done = spawnSync(shell, ["-c", command], { env: this.env(extra), encoding: "utf8", timeout: 60_000 });
    return { status: done.status, stdout: done.stdout, stderr: done.stderr };
  }

  /** Runs a create or update command, asserts success and the one-line `{"id": N}` contract. */
  runForId(command: string, extra: Record<string, string> = {}, shell = "sh"): { id: number; stdout: string; stderr: string } {
    const result = this.run(command, extra, shell);
    assert.equal(result.status, 0, `command failed:\n${result.stderr}`);
    assert.match(result.stdout, /^\{"id": \d+\}\n$/, `stdout must be exactly one {"id": N} line, got ${JSON.stringify(result.stdout)}`);
    return { id: (JSON.parse(result.stdout) as { id: number }).id, stdout: result.stdout, stderr: result.stderr };
  }

  /** Forgets every task, as a fresh NAS. */
  reset(): void {
    writeFileSync(this.statePath, "{}");
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

