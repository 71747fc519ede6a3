import * as pulumi from "@pulumi/pulumi";
import type { PlannedJob } from "../domain/model";
import { externalSecretManifest } from "../domain/repositories";
import { LABELS } from "../domain/naming";
import { COMPONENT_TYPES } from "../domain/types";
import { verification } from "../domain/verification";
import { dataLabels } from "../methods/volsync/manifests";
import { BackupContext } from "./context";
import { kubernetesObject } from "./kubernetes";

export interface RepositoryVerificationArgs {
  /** The planned verification: repository (by its first copy), schedule, share of data read per run. */
  job: PlannedJob;
  /** Config, plan and providers shared by all components. */
  context: BackupContext;
}

/**
 * A scheduled integrity check of one backup repository with its own tool (restic check, Kopia
 * snapshot verify, pgbackrest verify), notifying on success and failure; credentials from the store.
 */
export class RepositoryVerification extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.verification;

  constructor(name: string, args: RepositoryVerificationArgs, opts?: pulumi.ComponentResourceOptions) {
    const { job } = args;
    super(COMPONENT_TYPES.verification, name, { repository: job.id, schedule: job.schedule.description, readParts: job.readParts }, opts);
    const { config, plan } = args.context;
    const objects = verification(config, plan, job);
    const item = plan.items.find((i) => i.id === job.itemId)!;
    const dependsOn = objects.secret
      ? [kubernetesObject(`${name}-secret`, externalSecretManifest(objects.secret, { ...config.secretStore }, { ...dataLabels(item, job.destination), [LABELS.verify]: "true" }), { parent: this })]
      : [];
    kubernetesObject(`${name}-job`, objects.cronJob, { parent: this, dependsOn });
    this.registerOutputs({});
  }
}
