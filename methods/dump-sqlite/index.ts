/** SQLite files in app volumes, copied consistently with the sqlite3 backup API. */
import type { MethodPlugin } from "../types";
import { dumpMethodFor } from "../dumps";
import { sqliteDump } from "./engine";
import { expectedBytes, sortedEntries } from "../planning";
import { dumpAfterLostCluster, loadDump } from "../dumps/runbook";
import { sqliteIntro, sqliteLoad } from "./runbook";

export const dumpSqlite: MethodPlugin = {
  dataKinds: [
    {
      kind: "sqlite",
      configSection: "sqlite",
      drillController: "cronjob",
      runbook: { intro: sqliteIntro, load: (config, item) => loadDump(config, item, sqliteLoad), afterLostCluster: dumpAfterLostCluster },
      appItems: (config, appName, base) =>
        sortedEntries(config.apps[appName].sqlite).map(([name, file]) => ({
          ...base,
          id: `${appName}/sqlite/${name}`,
          kind: "sqlite",
          name,
          expectedBytes: expectedBytes(file.expectedSize, "100Mi"),
        })),
      methodFor: (_config, _item, kind, chosen) => dumpMethodFor(kind, chosen),
      dump: sqliteDump,
    },
  ],
};
