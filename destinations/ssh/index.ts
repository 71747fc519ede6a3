/** An offsite NAS reached over SSH (rsync, SFTP): copies in directories under `<path>/<cluster>/<purpose>`. */
import { DestinationPlugin, ownConfig } from "../types";
import { sshKeyRef } from "../../domain/repositories";

export const ssh: DestinationPlugin = {
  kind: "ssh",
  site: "offsite",
  layout: "directory",
  defaultPricePerTbMonth: (pricing) => pricing.sshPerTbMonth,
  describe: (target) => {
    const { user, host, path } = ownConfig("ssh", target);
    return `${user}@${host}:${path}`;
  },
  userSecret: (name, target) => `\`${sshKeyRef(name, ownConfig("ssh", target).privateKeyRef).join("/")}\`: the SSH key of \`${name}\``,
  directoryRoot: (target) => `${ownConfig("ssh", target).host}:`,
};
