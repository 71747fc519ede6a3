/**
 * Which component wires what, by data kind, method and job kind: the app's component loops over
 * its plan and asks here, naming no method. A new method or kind adds its line.
 */
import * as pulumi from "@pulumi/pulumi";
import type { JobKind, PlannedCopy, PlannedItem, PlannedJob } from "../domain/model";
import { kopiaMaintenance } from "../methods/volsync/manifests";
import { BackupContext } from "./context";
import { CnpgBackup } from "./cnpgBackup";
import { DumpBackup } from "./dumpBackup";
import { DumpOffsite } from "./dumpOffsite";
import { kubernetesObject } from "./kubernetes";
import { VolumeBackup } from "./volumeBackup";

type ItemFactory = (name: string, args: { item: PlannedItem; context: BackupContext }, opts: pulumi.ComponentResourceOptions) => void;

/** The component of one item of an app, by its data kind. */
const ITEM_COMPONENTS: Readonly<Record<string, ItemFactory>> = {
  volume: (name, args, opts) => new VolumeBackup(name, args, opts),
  cnpg: (name, args, opts) => new CnpgBackup(name, args, opts),
  postgres: (name, args, opts) => new DumpBackup(name, args, opts),
  sqlite: (name, args, opts) => new DumpBackup(name, args, opts),
  redis: (name, args, opts) => new DumpBackup(name, args, opts),
};

export function itemComponent(item: Pick<PlannedItem, "kind" | "id">): ItemFactory {
  const factory = ITEM_COMPONENTS[item.kind];
  if (!factory) throw new Error(`${item.id}: no component wires items of kind ${item.kind}`);
  return factory;
}

type SharedCopyFactory = (name: string, args: { item: PlannedItem; copy: PlannedCopy; context: BackupContext }, opts: pulumi.ComponentResourceOptions) => void;

/**
 * Methods whose copies one job makes for all of an app's items per destination (the dumps go
 * offsite together), with the component of that job; the first item that declares it names it.
 */
const SHARED_COPY_COMPONENTS: Readonly<Record<string, SharedCopyFactory>> = {
  "dump-restic": (name, args, opts) => new DumpOffsite(name, args, opts),
  "dump-rsync": (name, args, opts) => new DumpOffsite(name, args, opts),
};

export function sharedCopyComponent(copy: PlannedCopy): SharedCopyFactory | undefined {
  return SHARED_COPY_COMPONENTS[copy.method];
}

type AppJobFactory = (args: { job: PlannedJob; items: readonly PlannedItem[]; context: BackupContext }, opts: pulumi.CustomResourceOptions) => void;

/** Scheduled work of an app's repositories besides its copies, by job kind. */
const APP_JOB_COMPONENTS: Partial<Readonly<Record<JobKind, AppJobFactory>>> = {
  // One maintenance per Kopia repository; the app's Kopia volumes share a repository per destination.
  "kopia-maintenance": ({ job, items, context }, opts) => {
    const item = items.find((i) => i.copies.some((c) => c.destination === job.destination && c.method === "volsync-kopia"))!;
    const volume = context.config.apps[job.app].volumes[item.name];
    kubernetesObject(`${job.app}-${job.destination}-kopia-maintenance`, kopiaMaintenance(context.config, job, item, volume), opts);
  },
};

export function appJobComponent(job: PlannedJob): AppJobFactory | undefined {
  return APP_JOB_COMPONENTS[job.kind];
}
