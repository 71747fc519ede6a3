/** An on-site NAS share over NFS: copies in directories under `<path>/<cluster>/<purpose>`. */
import type { DestinationPlugin } from "../types";

export const nfs: DestinationPlugin = {
  kind: "nfs",
  site: "onsite",
  layout: "directory",
  defaultPricePerTbMonth: (pricing) => pricing.nfsPerTbMonth,
  directoryRoot: (target) => (target.kind === "nfs" ? `${target.server}:` : ""),
};
