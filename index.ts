/**
 * homelab-backups: the Pulumi program. `pulumi up` on a stack runs this; so does the offline plan
 * (`npm run plan`) under a capturing mock engine.
 */
import { BackupPlatform } from "./components/platform";
import { loadStackConfig } from "./components/stackConfig";
import { restoreEntryPoints } from "./domain/runbooks";
import { destinationSummaries } from "./domain/storage";

export = () => {
  const config = loadStackConfig();
  const platform = new BackupPlatform("homelab", { config });
  return {
    cluster: platform.plan.clusterName,
    peakJobStartsPerMinute: platform.plan.peakStarts,
    /** Per destination: where it is, its buckets and which consumers hold a key to which bucket (never a key). */
    destinations: destinationSummaries(config, platform.plan),
    /** Per app, dataset and host: its runbook and, per data item and copy, the section that restores it. */
    restore: restoreEntryPoints(config, platform.plan),
  };
};
