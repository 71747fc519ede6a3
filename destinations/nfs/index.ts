/** An on-site NAS share over NFS: copies in directories under `<path>/<cluster>/<purpose>`. */
import { DestinationPlugin, ownConfig } from "../types";

export const nfs: DestinationPlugin = {
  kind: "nfs",
  site: "onsite",
  layout: "directory",
  defaultPricePerTbMonth: (pricing) => pricing.nfsPerTbMonth,
  describe: (target) => {
    const { server, path } = ownConfig("nfs", target);
    return `${server}:${path}`;
  },
  directoryRoot: (target) => `${ownConfig("nfs", target).server}:`,
};
