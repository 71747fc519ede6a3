import * as pulumi from "@pulumi/pulumi";
import { nasPersistentVolume, nasPersistentVolumeClaim } from "../domain/nas";
import type { StackConfig } from "../domain/config/schema";
import { kubernetesObject } from "./kubernetes";

export interface NasShareArgs {
  /** The validated stack config (the destination's server and path). */
  config: StackConfig;
  /** The NFS destination's name. */
  destination: string;
  /** Namespaces whose jobs mount the share. */
  namespaces: string[];
}

/** The on-site NAS share as a claim in each namespace that needs it, bound to a static NFS volume. */
export class NasShare extends pulumi.ComponentResource {
  static readonly __pulumiType = "homelab-backups:storage:NasShare";

  constructor(name: string, args: NasShareArgs, opts?: pulumi.ComponentResourceOptions) {
    super(NasShare.__pulumiType, name, { destination: args.destination, namespaces: args.namespaces }, opts);
    for (const namespace of args.namespaces) {
      const volume = kubernetesObject(`${name}-${namespace}-volume`, nasPersistentVolume(args.config, args.destination, namespace), {
        parent: this,
        retainOnDelete: true,
      });
      kubernetesObject(`${name}-${namespace}-claim`, nasPersistentVolumeClaim(args.destination, namespace), {
        parent: this,
        dependsOn: [volume],
        retainOnDelete: true,
      });
    }
    this.registerOutputs({});
  }
}
