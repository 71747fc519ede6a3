/** Every policy of the pack, by area. Tests and the offline plan import this, never index.ts. */
import { Policies } from "@pulumi/policy";
import { kubernetesPolicies } from "./kubernetes";
import { storagePolicies } from "./storage";
import { tierPolicies } from "./tiers";

export const PACK_NAME = "homelab-backups";

export const policies: Policies = [...tierPolicies, ...storagePolicies, ...kubernetesPolicies];
