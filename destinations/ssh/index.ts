/** An offsite NAS reached over SSH (rsync, SFTP): copies in directories under `<path>/<cluster>/<purpose>`. */
import type { DestinationPlugin } from "../types";

export const ssh: DestinationPlugin = {
  kind: "ssh",
  site: "offsite",
  layout: "directory",
  defaultPricePerTbMonth: (pricing) => pricing.sshPerTbMonth,
  directoryRoot: (target) => (target.kind === "ssh" ? `${target.host}:` : ""),
};
