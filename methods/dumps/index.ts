/**
 * Dumps of app databases and files: a CronJob per item writes dump files to one NAS share, and one
 * job per app and offsite destination ships the app's dump directory (restic to object storage,
 * rsync over SSH). The dump engines (methods/dump-*) register the data kinds.
 */
import type { CopyDraft, MethodChoice, MethodPlugin } from "../types";
import { dumpRetention, gfsRetention } from "../planning";
import { resticLockPrefixes } from "../tools/restic";
import { nasDumpCopy, resticDumpCopy, rsyncDumpCopy } from "./runbook";
import { resticRepository } from "../../domain/repositories";
import { dumpDirectory } from "./manifests";
import { repositoryPath } from "../../domain/storage";
import { dumpJobEvidence, offsiteDumpEvidence } from "./evidence";
import { dumpDrill } from "./drill";
import { resticRepositoryVerification } from "../tools/resticVerify";
import { cronJobCopyRules } from "./alerts";

/** Dumps land on the first NAS share; object storage gets restic, SSH destinations rsync. */
export function dumpMethodFor(kind: string, chosen: readonly string[]): MethodChoice {
  if (kind === "nfs") return chosen.includes("dump") ? { reason: "dumps land on one NAS share" } : { method: "dump" };
  return { method: kind === "ssh" ? "dump-rsync" : "dump-restic" };
}

/**
 * Copies that share one job share one schedule: an app's dumps go offsite in one run per
 * destination, so two jobs never lock the same restic repository.
 */
const shippedTogether = (copy: CopyDraft) => `${copy.item.app}/dumps@${copy.destination}`;
/** All of one app's dump jobs keep apart. */
const appDumps = (copy: CopyDraft) => `${copy.item.app}/dumps`;

export const dumps: MethodPlugin = {
  methods: [
    {
      id: "dump",
      label: "dump files",
      controller: "cronjob",
      encrypted: false,
      drillable: true,
      alerts: { copy: cronJobCopyRules },
      drill: dumpDrill,
      evidence: dumpJobEvidence,
      runbook: { tools: ["ssh", "scp"], section: (config, _plan, item, [copy]) => nasDumpCopy(config, item, copy) },
      recovery: ({ item, copy }) => ({ tool: "files", repository: `${copy.location}/${item.app}`, how: `newest ${item.name}-<UTC time> file: pg_restore, psql, sqlite3 or redis` }),
      repositoryPath: (_config, item) => item.app,
      bucketPurpose: () => "dumps",
      retention: ({ config, item }) => dumpRetention(config, item),
      scheduleGroup: appDumps,
    },
    {
      id: "dump-restic",
      label: "restic of the dump directory",
      controller: "cronjob",
      encrypted: true,
      forgetsSnapshots: true,
      drillable: true,
      alerts: { copy: cronJobCopyRules },
      drill: dumpDrill,
      evidence: offsiteDumpEvidence("restic"),
      runbook: { tools: ["restic"], section: (config, _plan, item, [copy]) => resticDumpCopy(config, item, copy) },
      secrets: { passwords: ["restic-password"] },
      recovery: ({ config, item, copy }) => ({
        tool: "restic",
        repository: resticRepository(config, item, copy),
        how: `restic restore latest --tag dumps --include ${dumpDirectory(config, item.app)} --target <dir>`,
      }),
      repositoryPath: (_config, item) => item.app,
      storage: { credential: "dumps", keyPrefix: (item) => `${item.app}/`, lockPrefixes: resticLockPrefixes },
      bucketPurpose: () => "dumps",
      retention: ({ config, item, site }) => gfsRetention(config, item, site),
      scheduleKey: shippedTogether,
      scheduleGroup: appDumps,
      verification: { repository: (item, copy) => `${item.app}/dumps-verify@${copy.destination}`, job: resticRepositoryVerification },
    },
    {
      id: "dump-rsync",
      label: "rsync of the dump directory",
      controller: "cronjob",
      encrypted: false,
      drillable: true,
      alerts: { copy: cronJobCopyRules },
      drill: dumpDrill,
      evidence: offsiteDumpEvidence("rsync"),
      runbook: { tools: ["rsync", "ssh"], section: (config, _plan, item, [copy]) => rsyncDumpCopy(config, item, copy) },
      recovery: ({ config, item, copy }) => ({ tool: "files", repository: `${copy.location}/${repositoryPath(config, item, copy)}`, how: "rsync the newest dump back" }),
      repositoryPath: (_config, item) => item.app,
      bucketPurpose: () => "dumps",
      retention: ({ config, item }) => dumpRetention(config, item),
      scheduleKey: shippedTogether,
      scheduleGroup: appDumps,
    },
  ],
};
