/** Backblaze B2 over its S3 API: one bucket per purpose; a locked bucket's keys can only hide files. */
import type { DestinationPlugin } from "../types";

export const b2: DestinationPlugin = {
  kind: "b2",
  site: "offsite",
  layout: "bucket",
  defaultPricePerTbMonth: (pricing) => pricing.b2PerTbMonth,
  lockedDelete: "hide",
};
