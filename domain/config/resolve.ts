/** Derived facts about a validated stack config, shared by validation, planning and components. */
import { DestinationConfig, StackConfig } from "./schema";
import { Tier, TIER_DEFINITIONS } from "../tiers";

export interface DestinationChoice {
  names: string[];
  /** Config path the list came from, for error messages; undefined when derived from the tier's kinds. */
  path?: Array<string | number>;
}

export function appNamespace(appName: string, app: { namespace?: string }): string {
  return app.namespace ?? appName;
}

/** The destinations a tier's data goes to when an app does not name its own. */
export function tierDestinations(config: Pick<StackConfig, "tiers" | "destinations">, tier: Tier): DestinationChoice {
  const override = config.tiers[String(tier) as "1" | "2" | "3"]?.destinations;
  if (override) return { names: override, path: ["tiers", String(tier), "destinations"] };
  const kinds: readonly string[] = TIER_DEFINITIONS[tier].defaults.destinationKinds;
  return { names: Object.keys(config.destinations).filter((name) => kinds.includes(config.destinations[name].kind)) };
}

export function appDestinations(config: Pick<StackConfig, "tiers" | "destinations" | "apps">, appName: string): DestinationChoice {
  const app = config.apps[appName];
  if (app.destinations) return { names: app.destinations, path: ["apps", appName, "destinations"] };
  return tierDestinations(config, app.tier);
}

export function destinationsOfKind<K extends DestinationConfig["kind"]>(
  config: Pick<StackConfig, "destinations">,
  names: readonly string[],
  kind: K,
): Array<{ name: string; destination: Extract<DestinationConfig, { kind: K }> }> {
  return names
    .filter((name) => config.destinations[name]?.kind === kind)
    .map((name) => ({ name, destination: config.destinations[name] as Extract<DestinationConfig, { kind: K }> }));
}
