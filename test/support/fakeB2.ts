/**
 * A local stand-in for the Backblaze B2 native API (v4): b2_authorize_account, b2_list_buckets,
 * b2_create_key and b2_delete_key with the documented response shapes and error bodies
 * (`{status, code, message}`). It listens on 127.0.0.1 on a random port, serves as both the
 * auth URL and the API URL, records every request, and can be scripted to fail.
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
  status: number;
  code?: string;
  /** B2's message; a function sees the request (to echo headers back, for instance). */
  message?: string | ((request: RecordedRequest) => string);
  /** Value of the Retry-After header. */
  retryAfter?: string;
  /** Answer this text instead of a JSON error body (a proxy's HTML page, say). */
  rawBody?: string;
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
  url = "";

  private server: Server | undefined;
  private readonly scripted = new Map<string, ScriptedFailure[]>();
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
  }

  addBucket(name: string): string {
    const id = `4a5b${randomBytes(10).toString("hex")}`;
    this.buckets.set(name, id);
    return id;
  }

  /** The next calls of `operation` get these answers, in order. */
  failNext(operation: string, ...failures: ScriptedFailure[]): void {
    this.scripted.set(operation, [...(this.scripted.get(operation) ?? []), ...failures]);
  }

  /** Every call of `operation` gets this answer. */
  failAlways(operation: string, failure: ScriptedFailure): void {
    this.always.set(operation, failure);
  }

  requestsFor(operation: string): RecordedRequest[] {
    return this.requests.filter((request) => request.operation === operation);
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

    const failure = this.scripted.get(recorded.operation)?.shift() ?? this.always.get(recorded.operation);
    if (failure) return this.fail(response, failure, recorded);

    const match = /^\/b2api\/v4\/(b2_[a-z_]+)$/.exec(url.pathname);
    if (!match) return this.error(response, 404, "not_found", `no such API: ${url.pathname}`);
    switch (match[1]) {
      case "b2_authorize_account":
        return this.authorizeAccount(request, response);
      case "b2_list_buckets":
      case "b2_create_key":
      case "b2_delete_key":
        if (request.method !== "POST") return this.error(response, 405, "method_not_allowed", "use POST");
        if (!this.tokens.includes(request.headers.authorization ?? "")) {
          return this.error(response, 401, "bad_auth_token", "Invalid authorization token");
        }
        if (!body) return this.error(response, 400, "bad_request", "request body is not JSON");
        if (body.accountId !== undefined && body.accountId !== this.accountId) {
          return this.error(response, 401, "unauthorized", "accountId does not match the authorization token");
        }
        if (match[1] === "b2_list_buckets") return this.listBuckets(body, response);
        if (match[1] === "b2_create_key") return this.createKey(body, response);
        return this.deleteKey(body, response);
      default:
        return this.error(response, 404, "not_found", `no such API: ${match[1]}`);
    }
  }

  private authorizeAccount(request: IncomingMessage, response: ServerResponse): void {
    const header = request.headers.authorization ?? "";
    const expected = `Basic ${Buffer.from(`${this.masterKeyId}:${this.masterKey}`).toString("base64")}`;
    if (header !== expected) return this.error(response, 401, "unauthorized", "");
    const token = `4_${randomBytes(20).toString("hex")}`;
    this.tokens.push(token);
    this.json(response, 200, {
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

  private listBuckets(body: Record<string, unknown>, response: ServerResponse): void {
    if (!this.masterCapabilities.includes("listBuckets")) return this.error(response, 401, "unauthorized", "");
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
    this.json(response, 200, { buckets });
  }

  private createKey(body: Record<string, unknown>, response: ServerResponse): void {
    if (!this.masterCapabilities.includes("writeKeys")) return this.error(response, 401, "unauthorized", "");
    const { keyName, capabilities, bucketIds, namePrefix } = body;
    if (typeof keyName !== "string" || !/^[A-Za-z0-9-]{1,100}$/.test(keyName)) {
      return this.error(response, 400, "bad_request", "Invalid keyName");
    }
    if (!Array.isArray(capabilities) || capabilities.length === 0 || !capabilities.every((c) => VALID_CAPABILITIES.has(c))) {
      return this.error(response, 400, "bad_request", "Invalid capabilities");
    }
    if (bucketIds !== undefined && (!Array.isArray(bucketIds) || !bucketIds.every((id) => [...this.buckets.values()].includes(id)))) {
      return this.error(response, 400, "bad_request", "Invalid bucketId");
    }
    const key: FakeKey = {
      applicationKeyId: `004a1b2c3d4e5f6${randomBytes(5).toString("hex")}`,
      applicationKey: `K004${randomBytes(15).toString("hex")}`,
      keyName,
      capabilities: capabilities as string[],
      bucketIds: (bucketIds as string[] | undefined) ?? null,
      namePrefix: typeof namePrefix === "string" ? namePrefix : null,
      accountId: this.accountId,
      expirationTimestamp: null,
      options: ["s3"],
    };
    this.keys.set(key.applicationKeyId, key);
    this.json(response, 200, key);
  }

  private deleteKey(body: Record<string, unknown>, response: ServerResponse): void {
    if (!this.masterCapabilities.includes("deleteKeys")) return this.error(response, 401, "unauthorized", "");
    const id = body.applicationKeyId;
    const key = typeof id === "string" ? this.keys.get(id) : undefined;
    if (!key) {
      return this.missingKeyStatus === 404
        ? this.error(response, 404, "not_found", `Key not found: ${String(id)}`)
        : this.error(response, 400, "bad_request", `Key not found: ${String(id)}`);
    }
    this.keys.delete(key.applicationKeyId);
    const { applicationKey: _secret, ...fields } = key;
    this.json(response, 200, fields);
  }

  private fail(response: ServerResponse, failure: ScriptedFailure, request: RecordedRequest): void {
    const headers: Record<string, string> = {};
    if (failure.retryAfter !== undefined) headers["Retry-After"] = failure.retryAfter;
    if (failure.rawBody !== undefined) {
      response.writeHead(failure.status, { ...headers, "Content-Type": "text/html" });
      response.end(failure.rawBody);
      return;
    }
    const message = typeof failure.message === "function" ? failure.message(request) : (failure.message ?? "");
    response.writeHead(failure.status, { ...headers, "Content-Type": "application/json" });
    response.end(JSON.stringify({ status: failure.status, code: failure.code ?? "unknown", message }));
  }

  private error(response: ServerResponse, status: number, code: string, message: string): void {
    this.json(response, status, { status, code, message });
  }

  private json(response: ServerResponse, status: number, body: unknown): void {
    response.writeHead(status, { "Content-Type": "application/json" });
    response.end(JSON.stringify(body));
  }
}
