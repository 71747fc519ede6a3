/** Redis instances, dumped as RDB files. */
import type { MethodPlugin } from "../types";
import { dumpMethodFor } from "../dumps";
import { redisDump } from "./engine";
import { expectedBytes, sortedEntries } from "../planning";
import { dumpAfterLostCluster, loadDump } from "../dumps/runbook";
import { redisIntro, redisLoad, redisUserSecrets } from "./runbook";

export const dumpRedis: MethodPlugin = {
  dataKinds: [
    {
      kind: "redis",
      configSection: "redis",
      drillController: "cronjob",
      runbook: { intro: redisIntro, load: (config, item) => loadDump(config, item, redisLoad), userSecrets: redisUserSecrets, afterLostCluster: dumpAfterLostCluster },
      appItems: (config, appName, base) =>
        sortedEntries(config.apps[appName].redis).map(([name, redis]) => ({
          ...base,
          id: `${appName}/redis/${name}`,
          kind: "redis",
          name,
          expectedBytes: expectedBytes(redis.expectedSize, "100Mi"),
        })),
      methodFor: (_config, _item, kind, chosen) => dumpMethodFor(kind, chosen),
      dump: redisDump,
    },
  ],
};
