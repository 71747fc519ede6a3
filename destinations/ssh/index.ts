/** An offsite NAS reached over SSH (rsync, SFTP): copies in directories under `<path>/<cluster>/<purpose>`. */
import { DestinationPlugin, ownConfig } from "../types";

export const ssh: DestinationPlugin = {
  kind: "ssh",
  site: "offsite",
  layout: "directory",
  defaultPricePerTbMonth: (pricing) => pricing.sshPerTbMonth,
  describe: (target) => {
    const { user, host, path } = ownConfig("ssh", target);
    return `${user}@${host}:${path}`;
  },
  directoryRoot: (target) => `${ownConfig("ssh", target).host}:`,
};
