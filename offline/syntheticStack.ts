/**
 * Generated stack configs of any size, for the benchmark and load tests: a deterministic mix of
 * apps shaped like the example homelab (tiers 20/50/30 %, one or two volumes, some databases).
 */

export function syntheticStack(apps: number): Record<string, unknown> {
  const config: Record<string, Record<string, unknown>> = {
    cluster: { name: "bench", timezone: "Europe/Berlin", storageClass: "ceph-block", volumeSnapshotClass: "csi-ceph-blockpool" },
    destinations: syntheticDestinations(),
    apps: {},
    notifications: { ntfy: { url: "https://ntfy.example/backups" } },
    credentials: {
      b2: { applicationKeyId: "synthetic-key-id", applicationKey: "synthetic-application-key" },
      r2: { apiToken: "synthetic-api-token" },
    },
  };
  for (let i = 0; i < apps; i++) {
    const tier = i % 10 < 2 ? 1 : i % 10 < 7 ? 2 : 3;
    const app: Record<string, unknown> = {
      tier,
      volumes: Object.fromEntries(
        Array.from({ length: 1 + (i % 2) }, (_, v) => [`data-${v}`, { capacity: `${5 + (i % 7) * 5}Gi`, mover: i % 3 === 0 ? "kopia" : "restic" }]),
      ),
    };
    if (i % 4 === 0) app.sqlite = { db: { claim: "data-0", path: "/data/app.db" } };
    if (i % 10 === 0) app.databases = { main: { engine: "cnpg", cluster: `pg-app-${i}` } };
    config.apps[`app-${i}`] = app;
  }
  return config;
}

/** The four destination kinds, shaped like the example stack's. */
function syntheticDestinations(): Record<string, unknown> {
  return {
    nas: { kind: "nfs", server: "nas.internal", path: "/mnt/backups" },
    b2: { kind: "b2", accountId: "0123456789ab", region: "us-east-005" },
    r2: { kind: "r2", accountId: "0123456789abcdef0123456789abcdef" },
    "offsite-nas": {
      kind: "ssh",
      host: "offsite.example",
      user: "backup",
      path: "/backup",
      hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHN5bnRoZXRpYy1zdGFjay1ob3N0LWtleQ",
    },
  };
}
