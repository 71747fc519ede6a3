/** Cloudflare R2: one bucket per purpose; a bucket lock refuses deleting objects younger than its age. */
import { DestinationPlugin, ownConfig, s3Endpoint } from "../types";

export function r2S3Endpoint(accountId: string, jurisdiction: "default" | "eu" | "fedramp"): string {
  const zone = jurisdiction === "default" ? "" : `.${jurisdiction}`;
  return `https://${accountId}${zone}.r2.cloudflarestorage.com`;
}

export const r2: DestinationPlugin = {
  kind: "r2",
  site: "offsite",
  layout: "bucket",
  defaultPricePerTbMonth: (pricing) => pricing.r2PerTbMonth,
  describe: (target) => {
    const { accountId, jurisdiction } = ownConfig("r2", target);
    return r2S3Endpoint(accountId, jurisdiction);
  },
  lockedDelete: "refuse",
  s3: (target) => {
    const { accountId, jurisdiction } = ownConfig("r2", target);
    return s3Endpoint(r2S3Endpoint(accountId, jurisdiction), "auto", "Cloudflare");
  },
};
