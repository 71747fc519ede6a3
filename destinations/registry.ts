/** Every kind of destination: one folder each, one line here. */
import { b2 } from "./b2";
import { nfs } from "./nfs";
import { r2 } from "./r2";
import { ssh } from "./ssh";
import { DestinationPlugin, LOCAL_DESTINATION } from "./types";

export const DESTINATIONS: readonly DestinationPlugin[] = [nfs, b2, r2, ssh];

const BY_KIND = new Map([...DESTINATIONS, LOCAL_DESTINATION].map((plugin) => [plugin.kind, plugin]));

export function destinationPlugin(kind: string): DestinationPlugin {
  const plugin = BY_KIND.get(kind);
  if (!plugin) throw new Error(`unknown destination kind "${kind}"`);
  return plugin;
}
