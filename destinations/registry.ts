/** Every kind of destination: one folder each, one line here. */
import { b2 } from "./b2";
import { nfs } from "./nfs";
import { r2 } from "./r2";
import { ssh } from "./ssh";
import { DestinationPlugin, LOCAL_DESTINATION } from "./types";

export const DESTINATIONS: readonly DestinationPlugin[] = [nfs, b2, r2, ssh];

const BY_KIND = new Map([...DESTINATIONS, LOCAL_DESTINATION].map((plugin) => [plugin.kind, plugin]));

/** Destinations reached over the S3 API. */
export function isObjectStorage(kind: string | undefined): boolean {
  return kind !== undefined && BY_KIND.get(kind)?.s3 !== undefined;
}

/** "b2 or r2": the object-storage kinds, for messages. */
export function objectStorageKinds(): string {
  const kinds = DESTINATIONS.filter((plugin) => plugin.s3).map((plugin) => plugin.kind);
  return kinds.length > 1 ? `${kinds.slice(0, -1).join(", ")} or ${kinds.at(-1)}` : kinds.join("");
}

export function destinationPlugin(kind: string): DestinationPlugin {
  const plugin = BY_KIND.get(kind);
  if (!plugin) throw new Error(`unknown destination kind "${kind}"`);
  return plugin;
}
