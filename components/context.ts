import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../domain/config/schema";
import type { PlannedKopiaMirror } from "../methods/volsync-kopia/mirror";
import type { BackupPlan } from "../domain/model";

/** What every component below the platform may read: the validated config and the plan. */
export interface BackupContext {
  config: StackConfig;
  plan: BackupPlan;
  /** The plan's Kopia mirrors (apps.<app>.kopiaMirrors), derived once. */
  mirrors: PlannedKopiaMirror[];
  kubernetes: k8s.Provider;
  /** Operator releases custom resources wait for (empty when operators are installed elsewhere). */
  operators: pulumi.Resource[];
}
