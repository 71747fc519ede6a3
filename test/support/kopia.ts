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
import { chmodSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect as netConnect, Socket } from "node:net";
import { join, relative } from "node:path";
import { createServer as createTlsServer } from "node:tls";
import { mustExec, tempDir } from "./services";

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

/** A TLS listener on loopback passing every connection through to `target` (host:port of the HTTP server). */
export async function startTlsFront(target: string): Promise<TlsFront> {
  const dir = tempDir("kopia-tls");
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  await mustExec("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
    "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "extendedKeyUsage=serverAuth",
  ]);
  chmodSync(dir, 0o755);
  chmodSync(cert, 0o644);
  const colon = target.lastIndexOf(":");
  const [targetHost, targetPort] = [target.slice(0, colon), Number(target.slice(colon + 1))];
  const sockets = new Set<Socket>();
  const server = createTlsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (socket) => {
    const upstream = netConnect({ host: targetHost, port: targetPort });
    socket.pipe(upstream).pipe(socket);
    const close = () => {
      socket.destroy();
      upstream.destroy();
    };
    for (const end of [socket, upstream]) {
      end.on("error", close);
      end.on("close", close);
    }
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    caFile: cert,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
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
