/** Cloudflare R2: one bucket per purpose; a bucket lock refuses deleting objects younger than its age. */
import type { DestinationPlugin } from "../types";

export const r2: DestinationPlugin = {
  kind: "r2",
  site: "offsite",
  layout: "bucket",
  defaultPricePerTbMonth: (pricing) => pricing.r2PerTbMonth,
  lockedDelete: "refuse",
};
