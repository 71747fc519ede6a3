/** Redis, dumped as an RDB file with redis-cli --rdb. */
import { redisDumpScript } from "../../domain/jobs/scripts";
import type { DumpEngine } from "../types";
import { JOB_GID, JOB_UID, splitRef } from "../../domain/jobPods";

export const redisDump: DumpEngine = {
  image: (config) => config.images.redis,
  credentials(config, item) {
    const redis = config.apps[item.app].redis[item.name];
    const template: Record<string, string> = { REDIS_HOST: redis.host, REDIS_PORT: String(redis.port) };
    if (!redis.passwordRef) return { values: [], template };
    const [ref, field] = splitRef(redis.passwordRef);
    return { values: [{ variable: "redisPassword", item: ref, field }], template: { ...template, REDISCLI_AUTH: "{{ .redisPassword }}" } };
  },
  job: (_config, _item, o) => ({ script: redisDumpScript(o), uid: JOB_UID, gid: JOB_GID }),
  drill: () => ({ engine: "redis", deadlineSeconds: 2 * 3600 }),
};
