import type { StackConfig } from "../../domain/config/schema";
import type { PlannedCopy, PlannedItem } from "../../domain/model";
import { code, Lines } from "../../domain/runbookText";

export function redisIntro(config: StackConfig, item: PlannedItem): Lines {
  const redis = config.apps[item.app].redis[item.name];
  return [`Redis at \`${redis.host}:${redis.port}\`, dumped as an RDB snapshot (gzip'd).`];
}

export function redisLoad(config: StackConfig, item: PlannedItem, _dump: PlannedCopy): Lines {
  const ns = item.namespace;
  const redis = config.apps[item.app].redis[item.name];
  return [
    `Redis loads an RDB file only at start. Check it, then with Redis at \`${redis.host}\` stopped put it into its data directory as its \`dbfilename\` (with \`appendonly no\`, or the AOF wins), and start it:`,
    "",
    ...code("sh", [
      `gunzip -c ./${item.name}-*.rdb.gz > ./dump.rdb`,
      "redis-check-rdb ./dump.rdb",
      `# where it reads from (REDISCLI_AUTH from the dump job's Secret when the server has a password):`,
      `kubectl exec -n ${ns} <redis pod> -- redis-cli CONFIG GET dir`,
      `kubectl exec -n ${ns} <redis pod> -- redis-cli CONFIG GET dbfilename`,
    ]),
    "A Redis used only as a queue or cache (a Celery broker) can also start empty.",
    "",
  ];
}

/** The Redis password, when the user set one. */
export function redisUserSecrets(config: StackConfig, item: PlannedItem): string[] {
  const ref = config.apps[item.app].redis[item.name].passwordRef;
  return ref ? [`\`${ref}\` for Redis ${item.name}`] : [];
}
