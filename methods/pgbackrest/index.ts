/**
 * CloudNativePG clusters, backed up by the pgBackRest plugin: WAL archived continuously and base
 * backups on a schedule, into one repository per object-storage destination (repo1, repo2, ...).
 */
import { compareText } from "../../domain/compare";
import { kubeName } from "../../domain/naming";
import { cnpgClusterName } from "../../domain/storage";
import { TIER_DEFINITIONS } from "../../domain/tiers";
import type { MethodPlugin } from "../types";
import { expectedBytes, sortedEntries } from "../planning";
import { cnpgAfterLostCluster, cnpgIntro, pgbackrestCopy } from "./runbook";
import { cnpgOwner } from "../../domain/secrets";
import { stanzaEvidence } from "./evidence";
import { isObjectStorage } from "../../destinations/registry";
import { pgbackrestDrill } from "./drill";
import { pgbackrestRepositoryVerification } from "./verify";
import { pgbackrestRules } from "./alerts";
import { PGBACKREST_PLUGIN } from "./cluster";

/** pgBackRest takes one lock per stanza: two backups of one cluster start at least an hour apart. */
export const PGBACKREST_GAP_MINUTES = 60;

export const pgbackrest: MethodPlugin = {
  dataKinds: [
    {
      kind: "cnpg",
      configSection: "databases",
      drillController: "cronjob",
      runbook: { intro: cnpgIntro, operators: () => [`CloudNativePG and the \`${PGBACKREST_PLUGIN}\` plugin`], afterLostCluster: cnpgAfterLostCluster },
      appItems: (config, appName, base) =>
        sortedEntries(config.apps[appName].databases).flatMap(([name, db]) =>
          db.engine === "cnpg"
            ? [{ ...base, id: `${appName}/cnpg/${name}`, kind: "cnpg", name, namespace: db.namespace ?? base.namespace, expectedBytes: expectedBytes(db.expectedSize) }]
            : [],
        ),
      methodFor: (_config, _item, kind) =>
        isObjectStorage(kind)
          ? { method: "pgbackrest" }
          : { reason: "the pgBackRest plugin writes only to object storage; its b2/r2 repositories carry the WAL and backups" },
      arrangeCopies(config, item, drafted) {
        // pgBackRest writes to its repositories in a fixed order: b2 is repo1, r2 repo2 (then by name).
        const copies = [...drafted].sort((a, b) => compareText(`${a.kind}/${a.destination}`, `${b.kind}/${b.destination}`));
        const override = config.apps[item.app].databases[item.name];
        if (override?.engine === "cnpg" && override.schedule && copies.length > 0) {
          // The override sets repo1's daily backup; the other repositories are spread after it.
          const expression = override.schedule.trim().split(/\s+/).slice(1).join(" ");
          copies[0] = { ...copies[0], spec: { kind: "cron", expression }, specText: override.schedule };
        }
        return copies;
      },
    },
  ],
  methods: [
    {
      id: "pgbackrest",
      label: "pgBackRest",
      controller: "cnpg",
      encrypted: true,
      continuous: true,
      drillable: true,
      alerts: { item: pgbackrestRules },
      drill: pgbackrestDrill,
      evidence: stanzaEvidence,
      secrets: { owner: (config, item) => cnpgOwner(cnpgClusterName(config, item)), passwords: ["cipher-pass"] },
      recovery({ config, item, copy }) {
        const stanza = cnpgClusterName(config, item);
        return { tool: "pgBackRest", repository: `${copy.location}/${stanza} (stanza ${stanza})`, how: "a new CNPG Cluster bootstrapped from the plugin's repository, or pgbackrest restore" };
      },
      runbook: { tools: ["pgbackrest"], section: (config, _plan, item, [copy]) => pgbackrestCopy(config, item, copy) },
      gapMinutes: PGBACKREST_GAP_MINUTES,
      repositoryPath: (config, item) => cnpgClusterName(config, item),
      storage: {
        credential: "pgbackrest",
        owner: (config, item) => cnpgClusterName(config, item),
        rotationOwner: (owner) => kubeName(["pg", owner]),
        secretOwner: cnpgOwner,
        lockPrefixes: (path) => [
          { prefix: `${path}/archive/${path}/`, retention: "age" },
          // archive.info (and .copy) hold the passphrase of every archived WAL segment and are
          // written at stanza-create, rewritten only by stanza-upgrade (a PostgreSQL major upgrade):
          // kept for good, like the restic and Kopia key files.
          { prefix: `${path}/archive/${path}/archive.info`, retention: "indefinite" },
          // Backup sets are named by date (20261122-013000F...). backup.info and backup.info.copy
          // beside them hold the passphrase of the sets' manifests, but every backup and expire
          // rewrites them, so R2 cannot lock them (on B2, versioning keeps their old versions).
          { prefix: `${path}/backup/${path}/2`, retention: "age" },
        ],
      },
      bucketPurpose(config, item) {
        const db = config.apps[item.app].databases[item.name];
        return kubeName(["pg", (db?.engine === "cnpg" ? db.cluster : undefined) ?? item.name], 40);
      },
      retention({ config, item }) {
        const database = config.apps[item.app].databases[item.name];
        const override = database?.engine === "cnpg" ? database.retention : undefined;
        return { kind: "pgbackrest", ...TIER_DEFINITIONS[item.owner.tier].defaults.pgbackrest, ...override };
      },
      // Every repository gets a weekly full backup, which bounds its chain of incrementals.
      jobs: (copy) => [
        {
          id: `${copy.item.id}/full@${copy.destination}`,
          kind: "pgbackrest-full",
          app: copy.item.app,
          namespace: copy.item.namespace,
          destination: copy.destination,
          itemId: copy.item.id,
          controller: "cnpg",
          spec: { kind: "weekly" },
          group: copy.item.id,
          gapMinutes: PGBACKREST_GAP_MINUTES,
        },
      ],
      // pgBackRest's verify reads the whole repository, so it runs weekly at most.
      verification: { repository: (item, copy) => `${item.id}/verify@${copy.destination}`, minIntervalDays: 7, readsWholeRepository: true, job: pgbackrestRepositoryVerification },
    },
  ],
};
