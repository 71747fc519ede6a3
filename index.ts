/**
 * homelab-backups: the Pulumi program. `pulumi up` on a stack runs this; so does the offline plan
 * (`npm run plan`) under a capturing mock engine.
 */
import { BackupPlatform } from "./components/platform";
import { loadStackConfig } from "./components/stackConfig";

export = () => {
  const config = loadStackConfig();
  const platform = new BackupPlatform("homelab", { config });
  return {
    cluster: platform.plan.clusterName,
    peakJobStartsPerMinute: platform.plan.peakStarts,
    destinations: Object.fromEntries(
      platform.plan.destinations.map((destination) => [
        destination.name,
        { kind: destination.kind, site: destination.site, buckets: destination.buckets.map((bucket) => bucket.name) },
      ]),
    ),
  };
};
