import * as pulumi from "@pulumi/pulumi";
import type { PlannedApp } from "../domain/model";
import { COMPONENT_TYPES } from "../domain/types";
import { BackupContext } from "./context";
import { appJobComponent, itemComponent, sharedCopyComponent } from "./items";
import { RepositoryVerification } from "./repositoryVerification";
import { RestoreDrill } from "./restoreDrill";
import { verificationName } from "../domain/verification";
import { KopiaMirror } from "./kopiaMirror";
import { volumeCanary } from "../domain/canary";
import { VolumeCanary } from "./volumeCanary";

export interface AppBackupArgs {
  /** The planned app: its tier, destinations and data items. */
  app: PlannedApp;
  /** Config, plan and providers shared by all components. */
  context: BackupContext;
}

/** Everything that protects one app's data, one child component per data item. */
export class AppBackup extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.app;

  constructor(name: string, args: AppBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    const { app } = args;
    super(COMPONENT_TYPES.app, name, { app: app.name, namespace: app.namespace, tier: app.tier, destinations: app.destinations }, opts);
    const childOpts = { parent: this };
    for (const job of args.context.plan.jobs.filter((j) => j.app === app.name)) {
      appJobComponent(job)?.({ job, items: app.items, context: args.context }, { ...childOpts, dependsOn: args.context.operators });
    }
    // Copies one job makes for all the app's items per destination and method, declared by the first item that has one.
    const shared = new Map<string, { item: (typeof app.items)[number]; copy: (typeof app.items)[number]["copies"][number] }>();
    for (const item of app.items) {
      for (const copy of item.copies) {
        if (sharedCopyComponent(copy) && !shared.has(copy.destination)) shared.set(copy.destination, { item, copy });
      }
    }
    for (const [destination, { item, copy }] of shared) {
      sharedCopyComponent(copy)!(`${app.name}-dumps-${destination}`, { item, copy, context: args.context }, childOpts);
    }
    for (const item of app.items) {
      // Logical names are "<app>-<kind>-<name>": stable across tier and destination changes.
      const childName = `${app.name}-${item.kind}-${item.name}`;
      const childArgs = { item, context: args.context };
      itemComponent(item)(childName, childArgs, childOpts);
      for (const job of args.context.plan.jobs.filter((j) => j.kind === "restore-drill" && j.itemId === item.id)) {
        new RestoreDrill(`${childName}-drill`, { item, job, context: args.context }, { ...childOpts, dependsOn: args.context.operators });
      }
      const canary = volumeCanary(args.context.config, args.context.plan, item);
      if (canary) new VolumeCanary(`${childName}-canary`, { canary, context: args.context }, childOpts);
    }
    for (const mirror of args.context.mirrors.filter((m) => m.app === app.name)) {
      new KopiaMirror(`${app.name}-kopia-mirror-${mirror.source}-${mirror.destination}`, { mirror, context: args.context }, childOpts);
    }
    for (const job of args.context.plan.jobs.filter((j) => j.kind === "verify" && j.app === app.name)) {
      new RepositoryVerification(verificationName(job), { job, context: args.context }, { ...childOpts, dependsOn: args.context.operators });
    }
    this.registerOutputs({});
  }
}
