/** Backblaze B2 over its S3 API: one bucket per purpose; a locked bucket's keys can only hide files. */
import { DestinationPlugin, ownConfig, s3Endpoint } from "../types";

export function b2S3Endpoint(region: string): string {
  return `https://s3.${region}.backblazeb2.com`;
}

export const b2: DestinationPlugin = {
  kind: "b2",
  site: "offsite",
  layout: "bucket",
  defaultPricePerTbMonth: (pricing) => pricing.b2PerTbMonth,
  describe: (target) => b2S3Endpoint(ownConfig("b2", target).region),
  lockedDelete: "hide",
  keepsOldVersions: true,
  s3: (target) => {
    const { region } = ownConfig("b2", target);
    return s3Endpoint(b2S3Endpoint(region), region, "Other");
  },
};
