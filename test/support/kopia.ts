/**
 * Real Kopia for the tests (the binary scripts/tools.sh builds, found by s3Server's toolPath):
 * damaging blobs the way a failing disk or a tampering writer would, and a TLS front for the S3
 * test server.
 *
 * Why a TLS front: Kopia takes its S3 endpoint as a host name and speaks HTTPS unless given
 * `--disable-tls`, which no generated script, Secret or runbook passes (nor should they: B2 and
 * R2 are HTTPS only). So the test server (MinIO, plain HTTP on loopback) is put behind a TLS
 * listener with a certificate made for the run, which the Kopia processes trust through
 * SSL_CERT_FILE (Go's standard way; the kopia image trusts the real endpoints through its CA
 * bundle). The planned host (`s3.<region>.backblazeb2.com`, `<account>.r2.cloudflarestorage.com`)
 * becomes the front's `127.0.0.1:<port>` (pointKopiaAtTestServer); the scheme stays https, and
 * bucket, prefix, region and every other character stay as generated.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { startS3TlsFront } from "./s3Server";

/** A snapshot manifest as `kopia snapshot list --json` prints it (the fields the tests read). */
export interface KopiaSnapshot {
  id: string;
  source: { host: string; userName: string; path: string };
  startTime: string;
  rootEntry: { obj: string };
}

// ---------------------------------------------------------------------------------------------
// Damaging blobs

/** Every blob file of a filesystem repository: blob id -> path (the sharded layout, ".f" suffix). */
export function filesystemBlobs(repository: string): Map<string, string> {
  const blobs = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".f")) blobs.set(relative(repository, path).replace(/\//g, "").replace(/\.f$/, ""), path);
    }
  };
  walk(repository);
  return blobs;
}

/** Overwrites a file with as many random bytes (its size stays): a blob that no longer decrypts. */
export function scramble(path: string): void {
  writeFileSync(path, randomBytes(statSync(path).size));
}

// ---------------------------------------------------------------------------------------------
// The S3 test server behind TLS

export interface TlsFront {
  /** `127.0.0.1:<port>`: what a Kopia endpoint (a host, no scheme) becomes. */
  host: string;
  /** The certificate the Kopia processes trust (SSL_CERT_FILE); removed by stop(). */
  caFile: string;
  stop(): Promise<void>;
}

/** s3Server's TLS front before the HTTP server at `target` (host:port), addressed as Kopia takes an endpoint. */
export async function startTlsFront(target: string): Promise<TlsFront> {
  const front = await startS3TlsFront({ hostPort: target });
  return { host: `${front.host}:${front.port}`, caFile: front.caFile, stop: front.stop };
}

/**
 * THE ONE CHANGE the Kopia S3 tests make to generated configuration (a Secret's values, a script,
 * a runbook block): every occurrence of the planned S3 host becomes the TLS front's
 * `127.0.0.1:<port>`. The text must name the planned host at least once, and nothing else changes
 * (checked: substituting back gives the input).
 */
export function pointKopiaAtTestServer(text: string, plannedHost: string, front: Pick<TlsFront, "host">): string {
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(plannedHost)) throw new Error(`${plannedHost} is not a host name (no scheme, no port, no path)`);
  const parts = text.split(plannedHost);
  if (parts.length < 2) throw new Error(`the generated text never names the planned S3 host ${plannedHost}:\n${text.slice(0, 2000)}`);
  if (text.includes(front.host)) throw new Error(`the generated text already names ${front.host}`);
  const pointed = parts.join(front.host);
  if (pointed.split(front.host).join(plannedHost) !== text) throw new Error("pointKopiaAtTestServer changed more than the S3 host");
  return pointed;
}

/** pointKopiaAtTestServer over every value of an environment that names the planned host (the others are kept). */
export function pointEnvAtTestServer(env: Record<string, string>, plannedHost: string, front: Pick<TlsFront, "host">): Record<string, string> {
  if (!Object.values(env).some((value) => value.includes(plannedHost))) throw new Error(`no value of the environment names the planned S3 host ${plannedHost}`);
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value.includes(plannedHost) ? pointKopiaAtTestServer(value, plannedHost, front) : value]));
}
