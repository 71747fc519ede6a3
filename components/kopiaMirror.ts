import * as pulumi from "@pulumi/pulumi";
import { kopiaMirrorCronJob, kopiaMirrorLabels, kopiaMirrorSecretRecipe, PlannedKopiaMirror } from "../methods/volsync-kopia/mirror";
import { externalSecretManifest } from "../domain/repositories";
import { COMPONENT_TYPES } from "../domain/types";
import { BackupContext } from "./context";
import { kubernetesObject } from "./kubernetes";

export interface KopiaMirrorArgs {
  /** The planned mirror: the NAS repository, the bucket and prefix it goes to, its schedule. */
  mirror: PlannedKopiaMirror;
  /** Config, plan and providers shared by all components. */
  context: BackupContext;
}

/**
 * Mirrors one NAS Kopia repository of an app to one offsite bucket: the Secret (from the store,
 * through an ExternalSecret) and the CronJob running `kopia repository sync-to s3 --delete`.
 */
export class KopiaMirror extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.kopiaMirror;

  constructor(name: string, args: KopiaMirrorArgs, opts?: pulumi.ComponentResourceOptions) {
    const { mirror } = args;
    const summary = { app: mirror.app, source: mirror.sourceLocation, destination: mirror.destination, location: `${mirror.bucket}/${mirror.prefix}`, schedule: mirror.schedule.description };
    super(KopiaMirror.__pulumiType, name, summary, opts);
    const { config } = args.context;
    const recipe = kopiaMirrorSecretRecipe(config, mirror);
    const secret = kubernetesObject(`${name}-secret`, externalSecretManifest(recipe, { ...config.secretStore }, kopiaMirrorLabels(mirror)), { parent: this });
    kubernetesObject(`${name}-job`, kopiaMirrorCronJob(config, mirror), { parent: this, dependsOn: [secret] });
    this.registerOutputs(summary);
  }
}
