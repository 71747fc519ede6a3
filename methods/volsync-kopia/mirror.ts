/**
 * Kopia repository mirrors (apps.<app>.kopiaMirrors; issue 5 part 6, seed 001's "Kopia server
 * sync"): a CronJob per (NAS Kopia repository of an app, offsite destination) that copies the
 * repository blob for blob into the Kopia bucket of the app's own copies there, under
 * "<app>.mirror/<nas>/", with `kopia repository sync-to s3 --delete`. The mirror is the NAS
 * repository itself, its retention and hourly history included, and opens with the same password:
 * after losing the NAS, `kopia repository connect s3 --prefix=<app>.mirror/<nas>/` reads it, or a
 * new NAS is seeded from it with `sync-to filesystem`.
 *
 * The job reads the NAS share read-only (the claim mount and a `--readonly` Kopia connection), runs
 * as the owner of the repository files (the app's Kopia volumes' uid/gid: Kopia writes them 0600)
 * under Pod Security restricted, and gets its keys only from an ExternalSecret: the app's
 * kopia-password and a bucket key of its own (credential kind "kopia-mirror", restricted on B2 to
 * the mirror prefix). A missing repository or an unmounted share fails before `--delete` could
 * empty the mirror, and a re-created NAS repository (another unique id) fails Kopia's own check.
 *
 * Mirrors start daily an hour into the backup window, an hour apart in the order listed (seed 001:
 * B2 at 2 AM, R2 at 3 AM), at a minute away from the app's Kopia copies and the NAS repository's
 * maintenance. They are not copies of the plan: the tier rules judge the app's own copies. What
 * `--delete` removes follows the NAS maintenance, so the mirror prefix carries no R2 bucket lock (it
 * would fail the deletes); on B2 the bucket's versioning keeps deleted blobs for its lock window,
 * as for every writer of an immutable bucket.
 */
import type { StackConfig } from "../../domain/config/schema";
import type { BackupPlan, DestinationKind, PlannedJob } from "../../domain/model";
import { BucketConsumer, bucketConsumers, kopiaMirrorPrefix, repositoryPath } from "../../domain/storage";
import { s3Endpoint, SecretRecipe } from "../../domain/repositories";
import { bucketFields, storeItem } from "../../domain/secrets";
import { nasClaimName } from "../../domain/nas";
import { kubeName, shortHash } from "../../domain/naming";
import { describeCron, MINUTES_PER_WEEK, weeklyStartMinutes } from "../../domain/schedule";
import { checkDir, checkNotify, COMMON_TOOLS, commonPart, Notify, NOTIFY_ENV, render, scriptHeader, shq } from "../../domain/jobs/scripts";
import { isObjectStorage } from "../../destinations/registry";
import { BACKUP_MOUNT, backupCronJob, jobLabels, notificationValues, notifyFor } from "../../domain/jobPods";

type Manifest = Record<string, unknown>;

/** One mirror of one NAS Kopia repository to one offsite destination. */
export interface PlannedKopiaMirror {
  /** "<app>/kopia-mirror@<nas>><destination>", unique in the stack. */
  id: string;
  app: string;
  namespace: string;
  tier: number;
  /** The nfs destination holding the repository. */
  source: string;
  /** The repository as the job sees it: the NAS share is mounted read-only at /backup. */
  sourcePath: string;
  /** The repository as people find it on the NAS: "<server>:<path>/<cluster>/kopia/<app>". */
  sourceLocation: string;
  destination: string;
  destinationKind: DestinationKind;
  bucket: string;
  /** "<app>.mirror/<nas>/": beside the app's own repository in the bucket, never under it. */
  prefix: string;
  /** The S3 endpoint as Kopia's --endpoint takes it: a host name. */
  endpoint: string;
  region: string;
  /** The mirror's own bucket credential. */
  consumer: BucketConsumer;
  /** The repository files' owner (the app's Kopia volumes): the job runs as it. */
  uid: number;
  gid: number;
  /** Daily, in the cluster's time zone, which CronJobs read. */
  schedule: { cron: string; timeZone: string; description: string };
}

/** Minutes a mirror keeps from the starts of the app's Kopia copies and repository maintenance. */
export const MIRROR_GAP_MINUTES = 10;
/** Copy parallelism of `sync-to`: each worker holds one blob (a pack is at most ~20 MB). */
export const MIRROR_PARALLELISM = 4;
/** A first mirror of a large repository may take several runs; each one resumes where the last stopped. */
export const MIRROR_DEADLINE_SECONDS = 6 * 3600;

/** Every mirror the config asks for, in a stable order (apps by name, then NAS, then as listed). */
export function kopiaMirrors(config: StackConfig, plan: BackupPlan): PlannedKopiaMirror[] {
  const consumers = bucketConsumers(config, plan).filter((consumer) => consumer.credential === "kopia-mirror");
  const startHour = Number(config.cluster.backupWindow.start.slice(0, 2));
  const timeZone = config.cluster.timezone;
  const mirrors: PlannedKopiaMirror[] = [];
  const placed: number[] = [];
  for (const app of plan.apps) {
    const names = config.apps[app.name].kopiaMirrors ?? [];
    const owner = Object.values(config.apps[app.name].volumes).find((volume) => volume.mover === "kopia");
    if (names.length === 0 || !owner) continue;
    const items = app.items.filter((item) => item.copies.some((copy) => copy.method === "volsync-kopia"));
    const copies = items.flatMap((item) => item.copies.filter((copy) => copy.method === "volsync-kopia"));
    const sources = [...new Set(copies.filter((copy) => copy.destinationKind === "nfs").map((copy) => copy.destination))];
    let slot = 0;
    for (const source of sources) {
      const share = config.destinations[source];
      if (share.kind !== "nfs") continue;
      const sourceCopy = copies.find((copy) => copy.destination === source)!;
      const path = repositoryPath(config, items[0], sourceCopy);
      // What writes to or rewrites this repository: the app's Kopia copies and its maintenance.
      const busy = [
        ...copies.map((copy) => copy.schedule.cron),
        ...plan.jobs.filter((job: PlannedJob) => job.kind === "kopia-maintenance" && job.app === app.name && job.destination === source).map((job) => job.schedule.cron),
      ].flatMap((cron) => weeklyStartMinutes(cron));
      for (const destination of names) {
        const consumer = consumers.find((c) => c.owner === app.name && c.destination === destination);
        const target = config.destinations[destination];
        if (!consumer || !isObjectStorage(target.kind)) continue; // the config check reports it
        const endpoint = s3Endpoint(config, destination);
        const id = `${app.name}/kopia-mirror@${source}>${destination}`;
        const hour = (startHour + 1 + slot++) % 24;
        const minute = mirrorMinute(id, hour, [...busy, ...placed]);
        placed.push(...dailyStarts(hour, minute));
        const cron = `${minute} ${hour} * * *`;
        mirrors.push({
          id,
          app: app.name,
          namespace: app.namespace,
          tier: app.tier,
          source,
          sourcePath: `${BACKUP_MOUNT}/${config.cluster.name}/kopia/${path}`,
          sourceLocation: `${share.server}:${share.path}/${config.cluster.name}/kopia/${path}`,
          destination,
          destinationKind: target.kind,
          bucket: consumer.bucket,
          prefix: `${kopiaMirrorPrefix(app.name)}${source}/`,
          endpoint: endpoint.host,
          region: endpoint.region,
          consumer,
          uid: owner.uid,
          gid: owner.gid,
          schedule: { cron, timeZone, description: describeCron(cron, timeZone) },
        });
      }
    }
  }
  return mirrors;
}

function dailyStarts(hour: number, minute: number): number[] {
  return Array.from({ length: 7 }, (_, day) => day * 1440 + hour * 60 + minute);
}

/**
 * The first minute of the hour, from one derived from the mirror's id (so mirrors of different
 * apps spread), whose daily starts keep MIRROR_GAP_MINUTES from every busy start of the week;
 * failing that, the minute farthest from them.
 */
export function mirrorMinute(id: string, hour: number, busy: readonly number[]): number {
  const first = parseInt(shortHash(id, 6), 16) % 60;
  let best = { minute: first, distance: -1 };
  for (let step = 0; step < 60; step++) {
    const minute = (first + step) % 60;
    let distance = Infinity;
    for (const start of dailyStarts(hour, minute)) {
      for (const other of busy) {
        const gap = Math.abs(start - other) % MINUTES_PER_WEEK;
        distance = Math.min(distance, gap, MINUTES_PER_WEEK - gap);
      }
    }
    if (distance >= MIRROR_GAP_MINUTES) return minute;
    if (distance > best.distance) best = { minute, distance };
  }
  return best.minute;
}

/** The Secret a mirror reads: the app's Kopia password, the mirror's bucket key, notification secrets. */
export function kopiaMirrorSecretRecipe(config: StackConfig, mirror: PlannedKopiaMirror): SecretRecipe {
  const { values, template } = notificationValues(config, kubeName([config.cluster.name, mirror.app, "kopia-mirror", mirror.source, mirror.destination]));
  const own = storeItem(config.cluster.name, mirror.app);
  const fields = bucketFields(mirror.consumer);
  values.push(
    { variable: "kopiaPassword", item: own, field: "kopia-password" },
    { variable: "accessKeyId", item: own, field: fields.accessKeyId },
    { variable: "secretAccessKey", item: own, field: fields.secretAccessKey },
  );
  Object.assign(template, {
    KOPIA_PASSWORD: "{{ .kopiaPassword }}",
    AWS_ACCESS_KEY_ID: "{{ .accessKeyId }}",
    AWS_SECRET_ACCESS_KEY: "{{ .secretAccessKey }}",
    AWS_DEFAULT_REGION: mirror.region,
  });
  return { name: kubeName(["hb", mirror.app, "kopia-mirror", mirror.source, mirror.destination]), namespace: mirror.namespace, template, values };
}

export function kopiaMirrorLabels(mirror: PlannedKopiaMirror): Record<string, string> {
  return jobLabels(mirror.app, mirror.tier, `${mirror.app}/kopia-mirror`, mirror.destination);
}

/** The CronJob of one mirror: the shared backup CronJob (Forbid, deadlines, restricted, resources) in the Kopia image. */
export function kopiaMirrorCronJob(config: StackConfig, mirror: PlannedKopiaMirror): Manifest {
  return backupCronJob({
    // CronJob names leave 11 characters for the Jobs' suffix.
    name: kubeName([mirror.app, "kopia-mirror", mirror.source, mirror.destination], 52),
    namespace: mirror.namespace,
    labels: kopiaMirrorLabels(mirror),
    schedule: mirror.schedule.cron,
    timeZone: mirror.schedule.timeZone,
    image: config.images.kopia,
    script: kopiaMirrorScript({
      sourcePath: mirror.sourcePath,
      bucket: mirror.bucket,
      prefix: mirror.prefix,
      endpoint: mirror.endpoint,
      region: mirror.region,
      notify: notifyFor(config, mirror.app, kubeName(["kopia", mirror.source, mirror.destination])),
    }),
    uid: mirror.uid,
    gid: mirror.gid,
    secretName: kopiaMirrorSecretRecipe(config, mirror).name,
    deadlineSeconds: MIRROR_DEADLINE_SECONDS,
    nas: { claim: nasClaimName(mirror.source), readOnly: true },
  });
}

/** Every binary the mirror script runs (kopia/kopia image), shell builtins aside. */
export const KOPIA_MIRROR_TOOLS = [...COMMON_TOOLS, "mkdir", "kopia"] as const;
/** What the mirror script reads from its environment (the ExternalSecret's keys). */
export const KOPIA_MIRROR_ENV = { required: ["KOPIA_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"], optional: ["AWS_DEFAULT_REGION", ...NOTIFY_ENV] } as const;

/**
 * Mirrors the Kopia repository at `sourcePath` to s3://<bucket>/<prefix> at `endpoint`: checks the
 * repository is there (an unmounted share must never be mirrored as an empty one), connects to it
 * read-only, then `kopia repository sync-to s3 --delete`, which copies new and newer blobs and
 * deletes those the NAS repository no longer has. The password comes from KOPIA_PASSWORD, the keys
 * from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Kopia's own lookups: nothing secret is on a
 * command line). Notifies like the backup jobs (kind "mirror").
 */
export function kopiaMirrorScript(o: { sourcePath: string; bucket: string; prefix: string; endpoint: string; region: string; notify: Notify; parallel?: number }): string {
  checkNotify(o.notify);
  const source = checkDir(o.sourcePath, "sourcePath");
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(o.bucket)) throw new Error(`bucket: ${JSON.stringify(o.bucket)} is not a bucket name`);
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*\/$/.test(o.prefix) || o.prefix.split("/").includes("..")) {
    throw new Error(`prefix: ${JSON.stringify(o.prefix)} must be letters, digits and ._/- ending in '/'`);
  }
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(o.endpoint)) throw new Error(`endpoint: ${JSON.stringify(o.endpoint)} must be a host name (no scheme)`);
  if (!/^[a-z0-9-]+$/.test(o.region)) throw new Error(`region: ${JSON.stringify(o.region)} is not a region name`);
  const parallel = o.parallel ?? MIRROR_PARALLELISM;
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 32) throw new Error(`parallel: expected 1 to 32, got ${parallel}`);
  return render([
    ...scriptHeader(`mirror of the Kopia repository ${source} to s3://${o.bucket}/${o.prefix} (kopia repository sync-to --delete)`, "kopiaMirror", KOPIA_MIRROR_TOOLS, KOPIA_MIRROR_ENV, "domain/kopiaMirror.ts"),
    ...commonPart(o.notify, "kopia repository sync-to", { kind: "mirror", timed: true }),
    `SOURCE_PATH=${shq(source)}`,
    `BUCKET=${shq(o.bucket)}`,
    `PREFIX=${shq(o.prefix)}`,
    `ENDPOINT=${shq(o.endpoint)}`,
    `REGION=${shq(o.region)}`,
    `PARALLEL=${parallel}`,
    'config="$work/kopia/repository.config"',
    'export KOPIA_CACHE_DIRECTORY="$work/kopia/cache"',
    'export KOPIA_LOG_DIR="$work/kopia/logs"',
    "export KOPIA_CHECK_FOR_UPDATES=false",
    "",
    "# An unmounted share or a lost repository fails here: sync-to --delete must never see an empty source.",
    "check_source() {",
    '  if [ ! -d "$SOURCE_PATH" ]; then echo "no directory $SOURCE_PATH (is the NAS share mounted?)" >&2; return 1; fi',
    '  if [ ! -f "$SOURCE_PATH/kopia.repository.f" ]; then echo "$SOURCE_PATH holds no Kopia repository (no kopia.repository.f): nothing to mirror" >&2; return 1; fi',
    "}",
    "",
    "# Read-only twice over: the share is mounted read-only, and Kopia refuses writes of its own.",
    "connect_source() {",
    '  mkdir -p "$work/kopia"',
    '  kopia --config-file="$config" repository connect filesystem --path="$SOURCE_PATH" --readonly --no-persist-credentials --no-check-for-updates --cache-directory="$KOPIA_CACHE_DIRECTORY"',
    "}",
    "",
    "sync_mirror() {",
    '  kopia --config-file="$config" repository sync-to s3 --bucket="$BUCKET" --prefix="$PREFIX" --endpoint="$ENDPOINT" --region="$REGION" --delete --parallel="$PARALLEL"',
    "}",
    "",
    "run 'check the environment' require_env KOPIA_PASSWORD AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY",
    'run "check the NAS repository $SOURCE_PATH" check_source',
    'run "connect to the NAS repository $SOURCE_PATH (read-only)" connect_source',
    'run "kopia repository sync-to s3://$BUCKET/$PREFIX at $ENDPOINT (--delete)" sync_mirror',
    'summary="mirrored the Kopia repository $SOURCE_PATH to s3://$BUCKET/$PREFIX at $ENDPOINT (blobs the NAS no longer holds deleted); took $(($(date -u +%s) - started)) s"',
  ]);
}

/**
 * The BACKUP-PLAN.md section listing the mirrors: what is copied where and when, and what opens
 * the mirror after the NAS is gone. Empty when there are none.
 */
export function kopiaMirrorPlanSection(config: StackConfig, mirrors: readonly PlannedKopiaMirror[]): string[] {
  if (mirrors.length === 0) return [];
  const lines = [
    "## Kopia repository mirrors",
    "",
    "Each NAS Kopia repository below is copied blob for blob to object storage (`kopia repository sync-to s3 --delete`, `apps.<app>.kopiaMirrors`): " +
      "the same repository, with the NAS retention and history, opened with the app's kopia-password. Mirrors are not counted as copies above, " +
      "and they follow the NAS maintenance's deletes: on R2 the mirror prefix is not locked, on B2 the bucket's versioning keeps deleted blobs for its lock window.",
    "",
    "| App | From (NAS repository) | To | Bucket and prefix | Schedule | Secrets | Open with |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const mirror of mirrors) {
    const own = storeItem(config.cluster.name, mirror.app);
    const fields = bucketFields(mirror.consumer);
    lines.push(
      `| ${mirror.app} | ${mirror.source}: \`${mirror.sourceLocation}\` | ${mirror.destination === mirror.destinationKind ? mirror.destination : `${mirror.destination} (${mirror.destinationKind})`} | \`${mirror.bucket}/${mirror.prefix}\` | ${mirror.schedule.description} | ${own}: kopia-password; ${fields.accessKeyId}, ${fields.secretAccessKey} | kopia repository connect s3 --bucket=${mirror.bucket} --prefix=${mirror.prefix} --endpoint=${mirror.endpoint} |`,
    );
  }
  lines.push("");
  return lines;
}
