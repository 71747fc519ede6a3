/**
 * The CrossGuard pack: `pulumi preview --policy-pack policies`. This is the only place that
 * constructs the PolicyPack (the constructor starts the analyzer server), so nothing imports it.
 */
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, policies } from "./registry";

new PolicyPack(PACK_NAME, { policies, enforcementLevel: "advisory" });
