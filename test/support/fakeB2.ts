/**
 * A local stand-in for the Backblaze B2 native API (v4): b2_authorize_account, b2_list_buckets,
 * b2_create_key, b2_list_keys and b2_delete_key with the documented response shapes and error
 * bodies (`{status, code, message}`). It listens on 127.0.0.1 on a random port, serves as both
 * the auth URL and the API URL, records every request, and can be scripted to fail - before
 * doing the work, or after it (the answer lost on the way back).
 */
import { randomBytes } from "node:crypto";
import { createServer, IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from "node:http";
import { AddressInfo } from "node:net";

export interface RecordedRequest {
  /** The last path segment, e.g. "b2_create_key". */
  operation: string;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown> | undefined;
}

/** A scripted answer that replaces the real one. */
export interface ScriptedFailure {
  /** Ignored when `drop` is set. */
  status: number;
  code?: string;
  /** B2's message; a function sees the request (to echo headers back, for instance). */
  message?: string | ((request: RecordedRequest) => string);
  /** Value of the Retry-After header. */
  retryAfter?: string;
  /** Answer this text instead of a JSON error body (a proxy's HTML page, say). */
  rawBody?: string;
  /** Do the real work first (create the key...), then answer the failure instead of the result. */
  afterWork?: boolean;
  /** Close the connection without any answer. */
  drop?: boolean;
}

/** In a failNext script: answer this call normally, fail a later one. */
export const ANSWER_NORMALLY = "answer normally";

/** An answer the fake computed: status and JSON body. */
interface Answer {
  status: number;
  body: unknown;
}

export interface FakeKey {
  applicationKeyId: string;
  applicationKey: string;
  keyName: string;
  capabilities: string[];
  bucketIds: string[] | null;
  namePrefix: string | null;
  accountId: string;
  expirationTimestamp: number | null;
  options: string[];
}

const VALID_CAPABILITIES = new Set([
  "listKeys", "writeKeys", "deleteKeys", "listAllBucketNames", "listBuckets", "readBuckets", "writeBuckets",
  "deleteBuckets", "readBucketRetentions", "writeBucketRetentions", "readBucketEncryption", "writeBucketEncryption",
  "readBucketNotifications", "writeBucketNotifications", "listFiles", "readFiles", "shareFiles", "writeFiles",
  "deleteFiles", "readFileLegalHolds", "writeFileLegalHolds", "readFileRetentions", "writeFileRetentions", "bypassGovernance",
]);

export class FakeB2 {
  readonly accountId = "a1b2c3d4e5f6";
  /** The credentials Pulumi authorizes with. */
  readonly masterKeyId = "004a1b2c3d4e5f60000000001";
  readonly masterKey = `K004${randomBytes(15).toString("hex")}`;
  /** What the master key may do; remove writeKeys to see b2_create_key refuse. */
  masterCapabilities = ["listBuckets", "writeKeys", "deleteKeys", "listKeys", "readFiles"];
  readonly s3ApiUrl = "https://s3.us-west-004.backblazeb2.com";
  /** Bucket name to bucket id. */
  readonly buckets = new Map<string, string>();
  /** Live keys by id. */
  readonly keys = new Map<string, FakeKey>();
  readonly requests: RecordedRequest[] = [];
  /** Every authorization token handed out, to prove none leaks into messages. */
  readonly tokens: string[] = [];
  /** How b2_delete_key answers for a key that does not exist: 400 bad_request or 404 not_found. */
  missingKeyStatus: 400 | 404 = 400;
  /** Most keys one b2_list_keys page holds, whatever maxKeyCount asks; lower it to see paging. */
  listKeysPageSize = 10000;
  url = "";

  private server: Server | undefined;
  private readonly scripted = new Map<string, Array<ScriptedFailure | typeof ANSWER_NORMALLY>>();
  private readonly always = new Map<string, ScriptedFailure>();

  static async start(): Promise<FakeB2> {
    const fake = new FakeB2();
    const server = createServer((request, response) => {
      fake.handle(request, response).catch((error: unknown) => {
        response.writeHead(500, { "Content-Type": "application/json" });
        response.end(JSON.stringify({ status: 500, code: "internal_error", message: String(error) }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    fake.server = server;
    fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return fake;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Clears requests, keys, buckets and scripts; restores the master key's capabilities. */
  reset(): void {
    this.requests.length = 0;
    this.keys.clear();
    this.buckets.clear();
    this.scripted.clear();
    this.always.clear();
    this.masterCapabilities = ["listBuckets", "writeKeys", "deleteKeys", "listKeys", "readFiles"];
    this.missingKeyStatus = 400;
    this.listKeysPageSize = 10000;
  }

  addBucket(name: string): string {
    const id = `4a5b${randomBytes(10).toString("hex")}`;
    this.buckets.set(name, id);
    return id;
  }

  /** The next calls of `operation` get these answers, in order. */
  failNext(operation: string, ...failures: Array<ScriptedFailure | typeof ANSWER_NORMALLY>): void {
    this.scripted.set(operation, [...(this.scripted.get(operation) ?? []), ...failures]);
  }

  /** Every call of `operation` gets this answer. */
  failAlways(operation: string, failure: ScriptedFailure): void {
    this.always.set(operation, failure);
  }

  requestsFor(operation: string): RecordedRequest[] {
    return this.requests.filter((request) => request.operation === operation);
  }

  /** Live keys with this name. */
  keysNamed(keyName: string): FakeKey[] {
    return [...this.keys.values()].filter((key) => key.keyName === keyName);
  }

  /** Adds a live key directly, as if made earlier (by another stack, or before a crash). */
  addKey(fields: Pick<FakeKey, "keyName" | "capabilities" | "bucketIds"> & Partial<FakeKey>): FakeKey {
    const key = this.newKey(fields);
    this.keys.set(key.applicationKeyId, key);
    return key;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", this.url);
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    let body: Record<string, unknown> | undefined;
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      body = undefined;
    }
    const recorded: RecordedRequest = {
      operation: url.pathname.split("/").pop() ?? "",
      method: request.method ?? "",
      path: url.pathname,
      headers: request.headers,
      body,
    };
    this.requests.push(recorded);

    const next = this.scripted.get(recorded.operation)?.shift();
    const failure = next === ANSWER_NORMALLY ? undefined : (next ?? this.always.get(recorded.operation));
    if (failure && !failure.afterWork) return this.fail(request, response, failure, recorded);
    const answer = this.answer(request, url, body);
    if (failure) return this.fail(request, response, failure, recorded);
    this.json(response, answer.status, answer.body);
  }

  private answer(request: IncomingMessage, url: URL, body: Record<string, unknown> | undefined): Answer {
    const match = /^\/b2api\/v4\/(b2_[a-z_]+)$/.exec(url.pathname);
    if (!match) return this.error(404, "not_found", `no such API: ${url.pathname}`);
    const operation = match[1];
    switch (operation) {
      case "b2_authorize_account":
        return this.authorizeAccount(request);
      case "b2_list_buckets":
      case "b2_create_key":
      case "b2_list_keys":
      case "b2_delete_key": {
        // b2_list_keys also answers GET, with its parameters in the query string.
        const getAllowed = operation === "b2_list_keys" && request.method === "GET";
        if (request.method !== "POST" && !getAllowed) return this.error(405, "method_not_allowed", "use POST");
        if (!this.tokens.includes(request.headers.authorization ?? "")) {
          return this.error(401, "bad_auth_token", "Invalid authorization token");
        }
        const params = getAllowed ? Object.fromEntries(url.searchParams) : body;
        if (!params) return this.error(400, "bad_request", "request body is not JSON");
        if (params.accountId !== undefined && params.accountId !== this.accountId) {
          return this.error(401, "unauthorized", "accountId does not match the authorization token");
        }
        if (operation === "b2_list_buckets") return this.listBuckets(params);
        if (operation === "b2_create_key") return this.createKey(params);
        if (operation === "b2_list_keys") return this.listKeys(params);
        return this.deleteKey(params);
      }
      default:
        return this.error(404, "not_found", `no such API: ${operation}`);
    }
  }

  private authorizeAccount(request: IncomingMessage): Answer {
    const header = request.headers.authorization ?? "";
    const expected = `Basic ${Buffer.from(`${this.masterKeyId}:${this.masterKey}`).toString("base64")}`;
    if (header !== expected) return this.error(401, "unauthorized", "");
    const token = `4_${randomBytes(20).toString("hex")}`;
    this.tokens.push(token);
    return this.ok({
      accountId: this.accountId,
      authorizationToken: token,
      applicationKeyExpirationTimestamp: null,
      apiInfo: {
        storageApi: {
          apiUrl: this.url,
          downloadUrl: this.url,
          s3ApiUrl: this.s3ApiUrl,
          absoluteMinimumPartSize: 5000000,
          recommendedPartSize: 100000000,
          allowed: { buckets: null, capabilities: this.masterCapabilities, namePrefix: null },
          infoType: "storageApi",
        },
        groupsApi: { capabilities: ["listGroupMembers"], groupsApiUrl: "https://apiNNN.backblaze.com", infoType: "groupsApi" },
      },
    });
  }

  private listBuckets(body: Record<string, unknown>): Answer {
    if (!this.masterCapabilities.includes("listBuckets")) return this.error(401, "unauthorized", "");
    const names = typeof body.bucketName === "string" ? [body.bucketName] : [...this.buckets.keys()];
    const buckets = names
      .filter((name) => this.buckets.has(name))
      .map((name) => ({
        accountId: this.accountId,
        bucketId: this.buckets.get(name),
        bucketName: name,
        bucketType: "allPrivate",
        bucketInfo: {},
        corsRules: [],
        lifecycleRules: [],
        options: ["s3"],
        revision: 1,
      }));
    return this.ok({ buckets });
  }

  private newKey(fields: Pick<FakeKey, "keyName" | "capabilities" | "bucketIds"> & Partial<FakeKey>): FakeKey {
    return {
      applicationKeyId: `004a1b2c3d4e5f6${randomBytes(5).toString("hex")}`,
      applicationKey: `K004${randomBytes(15).toString("hex")}`,
      namePrefix: null,
      accountId: this.accountId,
      expirationTimestamp: null,
      options: ["s3"],
      ...fields,
    };
  }

  private createKey(body: Record<string, unknown>): Answer {
    if (!this.masterCapabilities.includes("writeKeys")) return this.error(401, "unauthorized", "");
    const { keyName, capabilities, bucketIds, namePrefix } = body;
    if (typeof keyName !== "string" || !/^[A-Za-z0-9-]{1,100}$/.test(keyName)) {
      return this.error(400, "bad_request", "Invalid keyName");
    }
    if (!Array.isArray(capabilities) || capabilities.length === 0 || !capabilities.every((c) => VALID_CAPABILITIES.has(c))) {
      return this.error(400, "bad_request", "Invalid capabilities");
    }
    if (bucketIds !== undefined && (!Array.isArray(bucketIds) || !bucketIds.every((id) => [...this.buckets.values()].includes(id)))) {
      return this.error(400, "bad_request", "Invalid bucketId");
    }
    // B2 does not require key names to be unique: a second create with the same name is a second key.
    const key = this.newKey({
      keyName,
      capabilities: capabilities as string[],
      bucketIds: (bucketIds as string[] | undefined) ?? null,
      namePrefix: typeof namePrefix === "string" ? namePrefix : null,
    });
    this.keys.set(key.applicationKeyId, key);
    return this.ok(key);
  }

  /** Keys in applicationKeyId order, from startApplicationKeyId on, at most maxKeyCount (1..10000, default 100). */
  private listKeys(params: Record<string, unknown>): Answer {
    if (!this.masterCapabilities.includes("listKeys")) return this.error(401, "unauthorized", "");
    const count = params.maxKeyCount === undefined ? 100 : Number(params.maxKeyCount);
    if (!Number.isInteger(count) || count < 1 || count > 10000) return this.error(400, "bad_request", "maxKeyCount must be between 1 and 10000");
    const start = typeof params.startApplicationKeyId === "string" ? params.startApplicationKeyId : "";
    const sorted = [...this.keys.values()].sort((a, b) => (a.applicationKeyId < b.applicationKeyId ? -1 : 1)).filter((key) => key.applicationKeyId >= start);
    const size = Math.min(count, this.listKeysPageSize);
    const keys = sorted.slice(0, size).map(({ applicationKey: _secret, ...fields }) => fields);
    return this.ok({ keys, nextApplicationKeyId: sorted[size]?.applicationKeyId ?? null });
  }

  private deleteKey(body: Record<string, unknown>): Answer {
    if (!this.masterCapabilities.includes("deleteKeys")) return this.error(401, "unauthorized", "");
    const id = body.applicationKeyId;
    const key = typeof id === "string" ? this.keys.get(id) : undefined;
    if (!key) {
      return this.missingKeyStatus === 404
        ? this.error(404, "not_found", `Key not found: ${String(id)}`)
        : this.error(400, "bad_request", `Key not found: ${String(id)}`);
    }
    this.keys.delete(key.applicationKeyId);
    const { applicationKey: _secret, ...fields } = key;
    return this.ok(fields);
  }

  private fail(request: IncomingMessage, response: ServerResponse, failure: ScriptedFailure, recorded: RecordedRequest): void {
    if (failure.drop) {
      request.socket.destroy();
      return;
    }
    const headers: Record<string, string> = {};
    if (failure.retryAfter !== undefined) headers["Retry-After"] = failure.retryAfter;
    if (failure.rawBody !== undefined) {
      response.writeHead(failure.status, { ...headers, "Content-Type": "text/html" });
      response.end(failure.rawBody);
      return;
    }
    const message = typeof failure.message === "function" ? failure.message(recorded) : (failure.message ?? "");
    response.writeHead(failure.status, { ...headers, "Content-Type": "application/json" });
    response.end(JSON.stringify({ status: failure.status, code: failure.code ?? "unknown", message }));
  }

  private ok(body: unknown): Answer {
    return { status: 200, body };
  }

  private error(status: number, code: string, message: string): Answer {
    return { status, body: { status, code, message } };
  }

  private json(response: ServerResponse, status: number, body: unknown): void {
    response.writeHead(status, { "Content-Type": "application/json" });
    response.end(JSON.stringify(body));
  }
}
