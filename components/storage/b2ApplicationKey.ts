/**
 * Backblaze B2 application keys restricted to one bucket, as a Pulumi dynamic resource.
 *
 * The S3-compatible API cannot create B2 keys, so the provider below talks to the B2 native API
 * (v4) with `fetch`. Pulumi serializes the provider object into the stack state (closure
 * serialization) and runs it in a separate process, so everything it reaches is defined in this
 * module: plain functions and non-exported constants, no imports, no classes. Keep it that way:
 * a reference to an imported module or an `export const` (compiled to `exports.X`) would drag
 * that module into the serialized text.
 *
 * The client functions (`authorize`, `resolveBucketId`, `createKey`, `listKeys`, `deleteKey`,
 * `withRetry`) are exported for tests and work without Pulumi.
 */
import * as pulumi from "@pulumi/pulumi";

// ---------------------------------------------------------------------------------------------
// Constants. Not `export const`: see the module comment.

const DEFAULT_AUTH_URL = "https://api.backblazeb2.com";
const DEFAULT_DESTINATION = "b2";
const API_PATH = "/b2api/v4/";

/** Pulumi's wire form of a secret (`pulumi.runtime.specialSigKey` / `specialSecretSig`). */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
/** What Pulumi passes for a value not known yet during preview (`pulumi.runtime.unknownValue`). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

const DEFAULT_ATTEMPTS = 5;
const DEFAULT_RETRY_BASE_MS = 1000;
/** The longest single wait, as a multiple of the base: 30 s by default. */
const MAX_DELAY_FACTOR = 30;
const DEFAULT_TIMEOUT_MS = 30_000;
/** Statuses worth retrying: B2's rate limit and transient server errors. Never 400 or 401. */
const RETRYABLE_STATUSES = [408, 429, 500, 502, 503, 504];
/** Keys per b2_list_keys page (B2 allows up to 10 000). */
const LIST_KEYS_PAGE_SIZE = 1000;

/** Capabilities B2 accepts on a key restricted to one bucket (b2_create_key, 2025). */
const BUCKET_KEY_CAPABILITIES = [
  "listAllBucketNames",
  "listBuckets",
  "readBuckets",
  "readBucketEncryption",
  "writeBucketEncryption",
  "readBucketNotifications",
  "writeBucketNotifications",
  "readBucketRetentions",
  "writeBucketRetentions",
  "listFiles",
  "readFiles",
  "shareFiles",
  "writeFiles",
  "deleteFiles",
  "readFileLegalHolds",
  "writeFileLegalHolds",
  "readFileRetentions",
  "writeFileRetentions",
  "bypassGovernance",
];
/** Real B2 capabilities that only an account-wide key may have. */
const ACCOUNT_ONLY_CAPABILITIES = [
  "listKeys",
  "writeKeys",
  "deleteKeys",
  "writeBuckets",
  "deleteBuckets",
  "readBucketReplications",
  "writeBucketReplications",
];
/** Inputs whose change means a new key: B2 keys cannot be edited. */
const REPLACE_PROPERTIES = ["bucketName", "keyName", "capabilities", "namePrefix"];

export { BUCKET_KEY_CAPABILITIES, DEFAULT_AUTH_URL };

// ---------------------------------------------------------------------------------------------
// Client

/** Credentials of the key Pulumi uses to manage keys. */
export interface B2Credentials {
  /** B2 API base URL; defaults to https://api.backblazeb2.com. */
  authUrl?: string;
  applicationKeyId: string;
  applicationKey: string;
}

/** The result of b2_authorize_account: what later calls need. */
export interface B2Authorization {
  accountId: string;
  authorizationToken: string;
  apiUrl: string;
  s3ApiUrl: string;
}

export interface RetryOptions {
  /** Total attempts, the first included (default 5). */
  attempts?: number;
  /** First backoff wait in ms, doubled per attempt (default: env B2_RETRY_BASE_MS, else 1000). */
  baseMs?: number;
  /** Cap on any single wait, Retry-After included (default 30 x baseMs). */
  maxDelayMs?: number;
  /** How to wait; tests pass a recorder. */
  sleep?: (ms: number) => Promise<void>;
}

export interface B2CallOptions {
  /** Destination name used in messages to point at `credentials.<destination>` (default "b2"). */
  destination?: string;
  retry?: RetryOptions;
  /** Per-request timeout in ms (default 30 000). */
  timeoutMs?: number;
}

/** An error from the B2 API or from reaching it. Its message never contains a secret. */
export interface B2Error extends Error {
  /** HTTP status, or 0 when B2 could not be reached. */
  status: number;
  /** B2's error code ("unauthorized", "too_many_requests", ...), or "network_error". */
  code: string;
  /** B2's own message, with any secret removed. */
  detail: string;
  /** Seconds B2 asked to wait before retrying (Retry-After). */
  retryAfterSeconds?: number;
  /** Whether trying again may help (rate limits, 5xx, network errors). */
  retryable: boolean;
  /** Attempts made when the error was final; set by withRetry. */
  attempts?: number;
}

export interface CreateKeyRequest {
  keyName: string;
  capabilities: string[];
  bucketIds: string[];
  namePrefix?: string;
  validDurationInSeconds?: number;
}

/** A key as b2_list_keys describes it; the list never shows a key's secret. */
export interface ListedKey {
  applicationKeyId: string;
  keyName: string;
  capabilities: string[];
  bucketIds: string[];
  namePrefix?: string;
}

/** b2_create_key's answer; `applicationKey` is returned this once only. */
export interface CreatedKey {
  applicationKeyId: string;
  applicationKey: string;
  keyName: string;
  capabilities: string[];
  bucketIds: string[];
  namePrefix?: string;
  accountId: string;
  expirationTimestamp?: number;
}

interface Context {
  destination: string;
  retry?: RetryOptions;
  timeoutMs: number;
  /** Values that must never appear in an error message. */
  secrets: string[];
}

function b2Error(message: string, fields: Omit<B2Error, "name" | "message">): B2Error {
  return Object.assign(new Error(message), { name: "B2Error" }, fields);
}

/** Whether `error` came from the B2 client (and so has a status and code). */
export function isB2Error(error: unknown): error is B2Error {
  return error instanceof Error && error.name === "B2Error" && typeof (error as Partial<B2Error>).status === "number";
}

function rephrase(error: B2Error, message: string): B2Error {
  return b2Error(message, {
    status: error.status,
    code: error.code,
    detail: error.detail,
    retryAfterSeconds: error.retryAfterSeconds,
    retryable: error.retryable,
    attempts: error.attempts,
  });
}

function scrub(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) if (secret && secret.length >= 4) out = out.split(secret).join("[redacted]");
  return out;
}

function said(detail: string): string {
  return detail ? ` B2 said: "${detail}"` : "";
}

function parseRetryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}

function networkReason(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === "TimeoutError" || error.name === "AbortError") return "timed out";
    const cause = (error as { cause?: unknown }).cause;
    if (cause !== null && typeof cause === "object") {
      const code = (cause as { code?: unknown }).code;
      if (typeof code === "string") return code;
      const message = (cause as { message?: unknown }).message;
      if (typeof message === "string") return message;
    }
    return error.message;
  }
  return String(error);
}

/** One HTTP call to B2, answered as JSON or thrown as a B2Error. No retries here. */
async function requestJson(operation: string, url: string, init: RequestInit, context: Context): Promise<Record<string, unknown>> {
  const where = new URL(url).origin;
  let status = 0;
  let text = "";
  let retryAfter: string | null = null;
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(context.timeoutMs) });
    status = response.status;
    retryAfter = response.headers.get("retry-after");
    text = await response.text();
  } catch (error) {
    const reason = scrub(networkReason(error), context.secrets);
    throw b2Error(`${operation}: could not reach B2 at ${where} (${reason})`, {
      status: 0,
      code: "network_error",
      detail: reason,
      retryable: true,
    });
  }
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = undefined;
  }
  const record = body !== null && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
  if (status >= 200 && status < 300) {
    if (record) return record;
    throw b2Error(`${operation}: B2 at ${where} answered ${status} with a body that is not a JSON object`, {
      status,
      code: "bad_response",
      detail: "",
      retryable: false,
    });
  }
  const code = record && typeof record.code === "string" ? record.code : "unknown";
  const raw = record && typeof record.message === "string" ? record.message : text.replace(/\s+/g, " ").trim().slice(0, 200);
  const detail = scrub(raw, context.secrets);
  throw b2Error(`${operation} failed (${status} ${code}).${said(detail)}`, {
    status,
    code,
    detail,
    retryAfterSeconds: parseRetryAfter(retryAfter),
    retryable: RETRYABLE_STATUSES.includes(status),
  });
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function retryBaseMs(): number {
  const fromEnv = Number(process.env.B2_RETRY_BASE_MS);
  return process.env.B2_RETRY_BASE_MS !== undefined && Number.isFinite(fromEnv) && fromEnv >= 0 ? fromEnv : DEFAULT_RETRY_BASE_MS;
}

/**
 * Runs `call` until it succeeds, fails with an error that is not retryable (400, 401, ...), or has
 * been tried `attempts` times. Waits `baseMs * 2^(n-1)` after the n-th failure, or what B2's
 * Retry-After asks, never more than `maxDelayMs`. The final error says how many attempts were made.
 */
export async function withRetry<T>(operation: string, call: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, Math.floor(options.attempts ?? DEFAULT_ATTEMPTS));
  const baseMs = options.baseMs ?? retryBaseMs();
  const maxDelayMs = options.maxDelayMs ?? baseMs * MAX_DELAY_FACTOR;
  const sleep = options.sleep ?? sleepMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(attempt);
    } catch (error) {
      const retryable = isB2Error(error) && error.retryable;
      if (!retryable) throw error;
      if (attempt >= attempts) {
        const last = error.status === 0 ? error.message : `${error.status} ${error.code}${error.detail ? `: ${error.detail}` : ""}`;
        throw b2Error(
          `${operation} gave up after ${attempts} attempts (B2 is rate limiting or unavailable); last error: ${last}. Wait a few minutes and run it again.`,
          { status: error.status, code: error.code, detail: error.detail, retryable: true, attempts },
        );
      }
      const backoff = baseMs * 2 ** (attempt - 1);
      const wanted = error.retryAfterSeconds !== undefined ? error.retryAfterSeconds * 1000 : backoff;
      await sleep(Math.min(Math.max(0, wanted), maxDelayMs));
    }
  }
}

function contextOf(options: B2CallOptions | undefined, secrets: string[]): Context {
  return {
    destination: options?.destination || DEFAULT_DESTINATION,
    retry: options?.retry,
    timeoutMs: options?.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    secrets,
  };
}

function callB2(operation: string, url: string, init: RequestInit, context: Context): Promise<Record<string, unknown>> {
  return withRetry(`B2 ${operation}`, () => requestJson(operation, url, init, context), context.retry);
}

function postRequest(auth: B2Authorization, operation: string, body: Record<string, unknown>): { url: string; init: RequestInit } {
  const init: RequestInit = {
    method: "POST",
    headers: { Authorization: auth.authorizationToken, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  return { url: `${auth.apiUrl.replace(/\/+$/, "")}${API_PATH}${operation}`, init };
}

function postB2(auth: B2Authorization, operation: string, body: Record<string, unknown>, context: Context) {
  const { url, init } = postRequest(auth, operation, body);
  return callB2(operation, url, init, context);
}

/** Secrets an error message about `auth` must not contain. */
function authSecrets(auth: B2Authorization): string[] {
  return [auth.authorizationToken];
}

function requiredString(body: Record<string, unknown>, key: string, operation: string): string {
  const value = body[key];
  if (typeof value !== "string" || !value) {
    throw b2Error(`${operation}: B2's answer has no ${key}`, { status: 200, code: "bad_response", detail: "", retryable: false });
  }
  return value;
}

function credentialsRef(destination: string): string {
  return `credentials.${destination}.applicationKeyId/applicationKey`;
}

/** b2_authorize_account: exchanges the key id and key for an account id, token and API URL. */
export async function authorize(credentials: B2Credentials, options?: B2CallOptions): Promise<B2Authorization> {
  const basic = Buffer.from(`${credentials.applicationKeyId}:${credentials.applicationKey}`).toString("base64");
  const context = contextOf(options, [credentials.applicationKey, credentials.applicationKeyId, basic]);
  const base = (credentials.authUrl || DEFAULT_AUTH_URL).replace(/\/+$/, "");
  let body: Record<string, unknown>;
  try {
    body = await callB2("b2_authorize_account", `${base}${API_PATH}b2_authorize_account`, { method: "GET", headers: { Authorization: `Basic ${basic}` } }, context);
  } catch (error) {
    if (isB2Error(error) && error.status === 401) {
      throw rephrase(error, `B2 authorization failed (401 ${error.code}): check ${credentialsRef(context.destination)}.${said(error.detail)}`);
    }
    if (isB2Error(error) && error.status === 403) {
      throw rephrase(error, `B2 refused access to the account of ${credentialsRef(context.destination)} (403 ${error.code}): check the account's caps and billing.${said(error.detail)}`);
    }
    throw error;
  }
  const operation = "B2 b2_authorize_account";
  const apiInfo = body.apiInfo as Record<string, unknown> | undefined;
  const storage = (apiInfo?.storageApi ?? {}) as Record<string, unknown>;
  return {
    accountId: requiredString(body, "accountId", operation),
    authorizationToken: requiredString(body, "authorizationToken", operation),
    apiUrl: requiredString(storage, "apiUrl", operation),
    s3ApiUrl: typeof storage.s3ApiUrl === "string" ? storage.s3ApiUrl : "",
  };
}

/** b2_list_buckets filtered by name: the bucket's id. Throws naming the bucket when it does not exist. */
export async function resolveBucketId(auth: B2Authorization, bucketName: string, options?: B2CallOptions): Promise<string> {
  const context = contextOf(options, authSecrets(auth));
  let body: Record<string, unknown>;
  try {
    body = await postB2(auth, "b2_list_buckets", { accountId: auth.accountId, bucketName }, context);
  } catch (error) {
    if (isB2Error(error) && error.status === 401) {
      throw rephrase(
        error,
        `B2 refused to look up bucket "${bucketName}" (401 ${error.code}): the key in ${credentialsRef(context.destination)} needs the listBuckets capability, and if it is restricted to one bucket that bucket must be "${bucketName}".${said(error.detail)}`,
      );
    }
    throw error;
  }
  const buckets = Array.isArray(body.buckets) ? (body.buckets as Array<Record<string, unknown>>) : [];
  const match = buckets.find((bucket) => bucket && bucket.bucketName === bucketName && typeof bucket.bucketId === "string");
  if (!match) {
    throw b2Error(
      `B2 bucket "${bucketName}" not found in the account of ${credentialsRef(context.destination)}: create the bucket first or fix bucketName.`,
      { status: 404, code: "bucket_not_found", detail: "", retryable: false },
    );
  }
  return match.bucketId as string;
}

/**
 * b2_create_key. The answer holds the key's secret, which B2 never shows again, so a create whose
 * answer is lost (network error, timeout, 408, 5xx, a reply without the secret) may have left a
 * live key nobody can use or will delete: before it tries again, or gives up, it deletes every
 * key that request could have made (see strayKeys) and that did not exist before it: a replace
 * (`pulumi up --replace`, a lost state) asks for a key just like one consumers still use, which
 * must survive. The keys are listed once before the first attempt for that. 429 and other 4xx
 * answers are clear refusals.
 */
export async function createKey(auth: B2Authorization, request: CreateKeyRequest, options?: B2CallOptions): Promise<CreatedKey> {
  const context = contextOf(options, authSecrets(auth));
  const operation = "B2 b2_create_key";
  const body: Record<string, unknown> = {
    accountId: auth.accountId,
    keyName: request.keyName,
    capabilities: request.capabilities,
    bucketIds: request.bucketIds,
  };
  if (request.namePrefix) body.namePrefix = request.namePrefix;
  if (request.validDurationInSeconds !== undefined) body.validDurationInSeconds = request.validDurationInSeconds;
  const { url, init } = postRequest(auth, "b2_create_key", body);
  const existing = new Set(strayKeys(await listKeys(auth, options), request).map((key) => key.applicationKeyId));
  let answer: Record<string, unknown>;
  try {
    answer = await withRetry(
      operation,
      async () => {
        try {
          const reply = await requestJson("b2_create_key", url, init, context);
          requiredString(reply, "applicationKeyId", operation);
          requiredString(reply, "applicationKey", operation);
          return reply;
        } catch (error) {
          if (mayHaveCreated(error)) await removeStrayKeys(auth, request, existing, error, options);
          throw error;
        }
      },
      context.retry,
    );
  } catch (error) {
    if (isB2Error(error) && error.status === 401) {
      throw rephrase(
        error,
        `B2 refused to create key "${request.keyName}" (401 ${error.code}): the key in ${credentialsRef(context.destination)} needs the writeKeys capability.${said(error.detail)}`,
      );
    }
    if (isB2Error(error) && error.status === 400) {
      throw rephrase(error, `B2 rejected key "${request.keyName}" (400 ${error.code}).${said(error.detail)}`);
    }
    throw error;
  }
  const stringList = (value: unknown, fallback: string[]) =>
    Array.isArray(value) && value.every((item) => typeof item === "string") ? (value as string[]) : fallback;
  const created: CreatedKey = {
    applicationKeyId: requiredString(answer, "applicationKeyId", operation),
    applicationKey: requiredString(answer, "applicationKey", operation),
    keyName: typeof answer.keyName === "string" ? answer.keyName : request.keyName,
    capabilities: stringList(answer.capabilities, request.capabilities),
    bucketIds: stringList(answer.bucketIds, request.bucketIds),
    accountId: typeof answer.accountId === "string" ? answer.accountId : auth.accountId,
  };
  if (typeof answer.namePrefix === "string" && answer.namePrefix) created.namePrefix = answer.namePrefix;
  if (typeof answer.expirationTimestamp === "number") created.expirationTimestamp = answer.expirationTimestamp;
  return created;
}

/** Whether a failed b2_create_key may have created the key anyway: all but a clear 4xx answer. */
function mayHaveCreated(error: unknown): boolean {
  if (!isB2Error(error)) return true;
  return !(error.status >= 400 && error.status < 500 && error.status !== 408);
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  const left = [...new Set(a)].sort();
  const right = [...new Set(b)].sort();
  return left.length === right.length && left.every((item, index) => item === right[index]);
}

/**
 * Keys `request` could have made: its name, buckets, prefix and capabilities. Matching on all of
 * them, not the name alone, spares the key a replacement is about to retire, which keeps its name
 * when only its capabilities or prefix change.
 */
function strayKeys(keys: readonly ListedKey[], request: CreateKeyRequest): ListedKey[] {
  return keys.filter(
    (key) =>
      key.keyName === request.keyName &&
      (key.namePrefix ?? "") === (request.namePrefix ?? "") &&
      sameStrings(key.bucketIds, request.bucketIds) &&
      sameStrings(key.capabilities, request.capabilities),
  );
}

/** Deletes the keys a create that failed without a clear answer may have left; says what to do when it cannot. */
async function removeStrayKeys(auth: B2Authorization, request: CreateKeyRequest, existing: ReadonlySet<string>, failure: unknown, options?: B2CallOptions): Promise<void> {
  try {
    for (const key of strayKeys(await listKeys(auth, options), request)) {
      if (!existing.has(key.applicationKeyId)) await deleteKey(auth, key.applicationKeyId, options);
    }
  } catch (error) {
    const failed = isB2Error(failure) ? failure.message : "an unexpected error";
    const cause = error instanceof Error ? error.message : String(error);
    throw b2Error(
      `B2 b2_create_key got no clear answer (${failed}), so it may have created key "${request.keyName}", and removing such a key failed: ${cause} Delete every key named "${request.keyName}" in the B2 console (Application Keys), then run \`pulumi up\` again.`,
      // The create's status, not the cleanup's: a 401 here must not read as "needs writeKeys".
      { status: isB2Error(failure) ? failure.status : 0, code: "stray_key_cleanup_failed", detail: isB2Error(error) ? error.detail : "", retryable: false },
    );
  }
}

/** b2_list_keys, every page: the account's keys, without their secrets. */
export async function listKeys(auth: B2Authorization, options?: B2CallOptions): Promise<ListedKey[]> {
  const context = contextOf(options, authSecrets(auth));
  const keys: ListedKey[] = [];
  let start: string | undefined;
  for (;;) {
    const body: Record<string, unknown> = { accountId: auth.accountId, maxKeyCount: LIST_KEYS_PAGE_SIZE };
    if (start) body.startApplicationKeyId = start;
    let answer: Record<string, unknown>;
    try {
      answer = await postB2(auth, "b2_list_keys", body, context);
    } catch (error) {
      if (isB2Error(error) && error.status === 401) {
        throw rephrase(error, `B2 refused to list keys (401 ${error.code}): the key in ${credentialsRef(context.destination)} needs the listKeys capability.${said(error.detail)}`);
      }
      throw error;
    }
    const page = Array.isArray(answer.keys) ? (answer.keys as unknown[]) : [];
    for (const entry of page) {
      if (entry === null || typeof entry !== "object") continue;
      const key = entry as Record<string, unknown>;
      if (typeof key.applicationKeyId !== "string" || typeof key.keyName !== "string") continue;
      const strings = (value: unknown) => (Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : []);
      const listed: ListedKey = { applicationKeyId: key.applicationKeyId, keyName: key.keyName, capabilities: strings(key.capabilities), bucketIds: strings(key.bucketIds) };
      if (typeof key.namePrefix === "string" && key.namePrefix) listed.namePrefix = key.namePrefix;
      keys.push(listed);
    }
    const next = answer.nextApplicationKeyId;
    if (typeof next !== "string" || !next) return keys;
    if (next === start) {
      throw b2Error(`B2 b2_list_keys: B2 answered the same page twice (nextApplicationKeyId ${next})`, { status: 200, code: "bad_response", detail: "", retryable: false });
    }
    start = next;
  }
}

function alreadyGone(error: B2Error): boolean {
  return error.status === 404 || (error.status === 400 && /not\s*found|does not exist|no such/i.test(error.detail));
}

/** b2_delete_key. Resolves true when deleted, false when the key was already gone. */
export async function deleteKey(auth: B2Authorization, applicationKeyId: string, options?: B2CallOptions): Promise<boolean> {
  const context = contextOf(options, authSecrets(auth));
  try {
    await postB2(auth, "b2_delete_key", { applicationKeyId }, context);
    return true;
  } catch (error) {
    if (isB2Error(error) && !error.attempts && alreadyGone(error)) return false;
    if (isB2Error(error) && error.status === 401) {
      throw rephrase(
        error,
        `B2 refused to delete key ${applicationKeyId} (401 ${error.code}): the key in ${credentialsRef(context.destination)} needs the deleteKeys capability. Deletes use the credentials saved in the stack state when this key was created; if that key has been revoked since, delete ${applicationKeyId} in the B2 console and remove the resource with \`pulumi state delete\`.${said(error.detail)}`,
      );
    }
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Validation

/** A problem with one input, as Pulumi's check reports it. */
export interface InputFailure {
  property: string;
  reason: string;
}

type Props = Record<string, unknown>;

function isUnknown(value: unknown): boolean {
  return value === UNKNOWN;
}

/** A secret in Pulumi's wire form becomes its value; anything else is returned as is. */
function reveal(value: unknown): unknown {
  if (value !== null && typeof value === "object" && (value as Props)[SIG_KEY] === SECRET_SIG) return (value as Props).value;
  return value;
}

function wrapSecret(value: string): Props {
  return { [SIG_KEY]: SECRET_SIG, value };
}

function capabilityReason(capability: string): string | undefined {
  if (BUCKET_KEY_CAPABILITIES.includes(capability)) return undefined;
  if (ACCOUNT_ONLY_CAPABILITIES.includes(capability)) {
    return `"${capability}" is account-wide: B2 does not allow it on a key restricted to one bucket`;
  }
  const sameLetters = BUCKET_KEY_CAPABILITIES.find((known) => known.toLowerCase() === capability.toLowerCase());
  if (sameLetters) return `unknown capability "${capability}"; did you mean "${sameLetters}"?`;
  return `unknown capability "${capability}"; a bucket-restricted key may have: ${BUCKET_KEY_CAPABILITIES.join(", ")}`;
}

/**
 * Validates the resource's inputs the way `check` does; values not known yet (preview) pass.
 * Returns every problem found, each naming its property.
 */
export function validateInputs(inputs: Props): InputFailure[] {
  const failures: InputFailure[] = [];
  const fail = (property: string, reason: string) => failures.push({ property, reason });
  const text = (property: string, required: boolean): string | undefined => {
    const value = reveal(inputs[property]);
    if (isUnknown(value)) return undefined;
    if (value === undefined || value === null) {
      if (required) fail(property, `${property} is required`);
      return undefined;
    }
    if (typeof value !== "string") {
      fail(property, `${property} must be a string, got ${Array.isArray(value) ? "an array" : typeof value}`);
      return undefined;
    }
    if (required && !value) fail(property, `${property} must not be empty`);
    return value;
  };

  const destination = text("destination", false) || DEFAULT_DESTINATION;
  const before = failures.length;
  text("authKeyId", true);
  text("authKey", true);
  for (const failure of failures.slice(before)) {
    failure.reason += `: set credentials.${destination}.applicationKeyId and applicationKey with \`pulumi config set --secret --path\``;
  }

  const bucketName = text("bucketName", true);
  if (bucketName) {
    if (!/^[A-Za-z0-9-]{6,63}$/.test(bucketName)) {
      fail("bucketName", `bucket name "${bucketName}" is not a valid B2 bucket name (6 to 63 letters, digits and "-")`);
    } else if (bucketName.toLowerCase().startsWith("b2-")) {
      fail("bucketName", `bucket name "${bucketName}" is not valid: B2 bucket names cannot start with "b2-"`);
    }
  }

  const keyName = text("keyName", true);
  if (keyName) {
    if (keyName.length > 100) fail("keyName", `key name is ${keyName.length} characters long; B2 allows at most 100`);
    if (!/^[A-Za-z0-9-]+$/.test(keyName)) {
      fail("keyName", `key name "${keyName}" may contain only letters, digits and "-"`);
    }
  }

  const capabilities = inputs.capabilities;
  if (!isUnknown(capabilities)) {
    if (!Array.isArray(capabilities)) {
      fail("capabilities", capabilities === undefined ? "capabilities is required: list at least one capability" : "capabilities must be a list of strings");
    } else if (capabilities.length === 0) {
      fail("capabilities", "capabilities must list at least one capability (for example listBuckets, listFiles, readFiles, writeFiles, deleteFiles)");
    } else {
      const seen: string[] = [];
      capabilities.forEach((capability: unknown, index) => {
        const property = `capabilities[${index}]`;
        if (isUnknown(capability)) return;
        if (typeof capability !== "string") fail(property, "each capability must be a string");
        else if (capabilityReason(capability)) fail(property, capabilityReason(capability) as string);
        else if (seen.includes(capability)) fail(property, `"${capability}" is listed twice`);
        else seen.push(capability);
      });
    }
  }

  const namePrefix = text("namePrefix", false);
  if (namePrefix && namePrefix.length > 1000) fail("namePrefix", "namePrefix is longer than 1000 characters");

  const authUrl = text("authUrl", false);
  if (authUrl) {
    let url: URL | undefined;
    try {
      url = new URL(authUrl);
    } catch {
      fail("authUrl", `authUrl "${authUrl}" is not a URL`);
    }
    if (url) {
      const local = url.hostname === "localhost" || url.hostname === "127.0.0.1" || url.hostname === "[::1]";
      if (url.protocol !== "https:" && !(url.protocol === "http:" && local)) {
        fail("authUrl", `authUrl "${authUrl}" must use https (plain http only for a local test server)`);
      }
    }
  }
  return failures;
}

// ---------------------------------------------------------------------------------------------
// The dynamic provider

interface KeyArgs {
  credentials: B2Credentials;
  destination: string;
  bucketName: string;
  keyName: string;
  capabilities: string[];
  namePrefix?: string;
}

function keyArgs(inputs: Props): KeyArgs {
  const failures = validateInputs(inputs);
  if (failures.length > 0) {
    throw new Error(`invalid B2ApplicationKey inputs: ${failures.map((failure) => `${failure.property}: ${failure.reason}`).join("; ")}`);
  }
  const optional = (value: unknown) => (typeof value === "string" && value ? value : undefined);
  return {
    credentials: {
      authUrl: optional(inputs.authUrl) || DEFAULT_AUTH_URL,
      applicationKeyId: reveal(inputs.authKeyId) as string,
      applicationKey: reveal(inputs.authKey) as string,
    },
    destination: optional(inputs.destination) || DEFAULT_DESTINATION,
    bucketName: inputs.bucketName as string,
    keyName: inputs.keyName as string,
    capabilities: inputs.capabilities as string[],
    namePrefix: optional(inputs.namePrefix),
  };
}

/** Outputs never hold `undefined`: the dynamic provider host cannot encode it. */
function compact(record: Props): Props {
  const out: Props = {};
  for (const [key, value] of Object.entries(record)) if (value !== undefined) out[key] = value;
  return out;
}

async function createResource(inputs: Props): Promise<{ id: string; outs: Props }> {
  const args = keyArgs(inputs);
  const options: B2CallOptions = { destination: args.destination };
  const auth = await authorize(args.credentials, options);
  const bucketId = await resolveBucketId(auth, args.bucketName, options);
  const key = await createKey(
    auth,
    { keyName: args.keyName, capabilities: args.capabilities, bucketIds: [bucketId], namePrefix: args.namePrefix },
    options,
  );
  return {
    id: key.applicationKeyId,
    outs: compact({
      applicationKeyId: key.applicationKeyId,
      applicationKey: wrapSecret(key.applicationKey),
      bucketId,
      bucketName: args.bucketName,
      keyName: key.keyName,
      capabilities: args.capabilities,
      namePrefix: args.namePrefix,
      accountId: key.accountId,
      s3ApiUrl: auth.s3ApiUrl || undefined,
      expirationTimestamp: key.expirationTimestamp,
      // Kept so delete can authenticate: the engine hands delete only the saved outputs.
      authKeyId: wrapSecret(args.credentials.applicationKeyId),
      authKey: wrapSecret(args.credentials.applicationKey),
      authUrl: args.credentials.authUrl,
      destination: args.destination,
    }),
  };
}

async function deleteResource(id: string, props: Props): Promise<void> {
  const destination = typeof props.destination === "string" && props.destination ? props.destination : DEFAULT_DESTINATION;
  const applicationKeyId = reveal(props.authKeyId);
  const applicationKey = reveal(props.authKey);
  if (typeof applicationKeyId !== "string" || typeof applicationKey !== "string") {
    throw new Error(`cannot delete B2 key ${id}: its state has no credentials (authKeyId/authKey); delete it in the B2 console and run \`pulumi state delete\``);
  }
  const authUrl = typeof props.authUrl === "string" && props.authUrl ? props.authUrl : DEFAULT_AUTH_URL;
  const options: B2CallOptions = { destination };
  const auth = await authorize({ authUrl, applicationKeyId, applicationKey }, options);
  await deleteKey(auth, id, options);
}

function sameText(old: unknown, news: unknown): boolean {
  const norm = (value: unknown) => (value === undefined || value === null ? "" : value);
  return !isUnknown(news) && norm(reveal(old)) === norm(reveal(news));
}

function sameSet(old: unknown, news: unknown): boolean {
  if (!Array.isArray(old) || !Array.isArray(news) || news.some(isUnknown)) return false;
  const a = [...new Set(old.map(String))].sort();
  const b = [...new Set(news.map(String))].sort();
  return a.length === b.length && a.every((item, index) => item === b[index]);
}

async function diffResource(_id: string, olds: Props, news: Props) {
  const replaces = REPLACE_PROPERTIES.filter((property) =>
    property === "capabilities" ? !sameSet(olds[property], news[property]) : !sameText(olds[property], news[property]),
  );
  if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: false };
  // Credentials, authUrl and destination only say how to reach B2. They change no key, but they
  // must be saved: delete sees only the saved outputs, and after a rotation the old Pulumi key
  // may be revoked.
  const reach = ["authKeyId", "authKey", "authUrl", "destination"].some((property) => !sameText(olds[property], news[property]));
  return reach ? { changes: true, replaces: [], deleteBeforeReplace: false } : { changes: false };
}

/** Saves new credentials (a rotated Pulumi key) without touching the key in B2. */
async function updateResource(_id: string, olds: Props, news: Props): Promise<{ outs: Props }> {
  const args = keyArgs(news);
  return {
    outs: compact({
      ...olds,
      authKeyId: wrapSecret(args.credentials.applicationKeyId),
      authKey: wrapSecret(args.credentials.applicationKey),
      authUrl: args.credentials.authUrl,
      destination: args.destination,
    }),
  };
}

async function checkResource(_olds: Props, news: Props) {
  const failures = validateInputs(news);
  return failures.length > 0 ? { inputs: news, failures } : { inputs: news };
}

/**
 * The provider: check validates, diff replaces on any change to what the key is, create
 * authorizes, looks the bucket up and creates the key, update only saves rotated credentials
 * (keys cannot be edited), delete removes the key (a key already gone counts as deleted).
 */
export const b2ApplicationKeyProvider: pulumi.dynamic.ResourceProvider<Props, Props> = {
  check: checkResource,
  diff: diffResource,
  create: createResource,
  update: updateResource,
  delete: deleteResource,
};

// ---------------------------------------------------------------------------------------------
// The resource

export interface B2ApplicationKeyArgs {
  /** Id of the B2 key Pulumi manages keys with (listBuckets, listKeys, writeKeys, deleteKeys); kept secret. */
  authKeyId: pulumi.Input<string>;
  /** Secret of that key; kept secret. */
  authKey: pulumi.Input<string>;
  /** Bucket the new key is restricted to; its id is looked up with b2_list_buckets. */
  bucketName: pulumi.Input<string>;
  /** Name of the new key: at most 100 letters, digits and "-". */
  keyName: pulumi.Input<string>;
  /** Capabilities of the new key, from those B2 allows on a bucket-restricted key. */
  capabilities: pulumi.Input<pulumi.Input<string>[]>;
  /** Restricts the new key to files whose names start with this prefix. */
  namePrefix?: pulumi.Input<string>;
  /** B2 API base URL; defaults to https://api.backblazeb2.com. */
  authUrl?: pulumi.Input<string>;
  /** Destination name error messages point at (`credentials.<destination>`); defaults to "b2". */
  destination?: pulumi.Input<string>;
}

/**
 * A B2 application key restricted to one bucket (and optionally a file-name prefix). Changing
 * the bucket, name, capabilities or prefix creates the new key before deleting the old one.
 * `applicationKey` is a secret.
 */
export class B2ApplicationKey extends pulumi.dynamic.Resource {
  /** The new key's id (the S3 access key id). */
  declare readonly applicationKeyId: pulumi.Output<string>;
  /** The new key's secret (the S3 secret access key). */
  declare readonly applicationKey: pulumi.Output<string>;
  /** Id of the bucket the key is restricted to. */
  declare readonly bucketId: pulumi.Output<string>;
  /** Name of that bucket. */
  declare readonly bucketName: pulumi.Output<string>;
  /** The key's name as B2 shows it. */
  declare readonly keyName: pulumi.Output<string>;
  /** The key's capabilities. */
  declare readonly capabilities: pulumi.Output<string[]>;
  /** The file-name prefix the key is restricted to, if any. */
  declare readonly namePrefix: pulumi.Output<string | undefined>;
  /** The account's S3-compatible endpoint, e.g. https://s3.us-west-004.backblazeb2.com. */
  declare readonly s3ApiUrl: pulumi.Output<string>;

  constructor(name: string, args: B2ApplicationKeyArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      b2ApplicationKeyProvider,
      name,
      {
        authKeyId: pulumi.secret(args.authKeyId),
        authKey: pulumi.secret(args.authKey),
        bucketName: args.bucketName,
        keyName: args.keyName,
        capabilities: args.capabilities,
        namePrefix: args.namePrefix,
        authUrl: args.authUrl,
        destination: args.destination,
        applicationKeyId: undefined,
        applicationKey: undefined,
        bucketId: undefined,
        s3ApiUrl: undefined,
      },
      pulumi.mergeOptions(opts, { additionalSecretOutputs: ["applicationKey", "authKeyId", "authKey"] }),
    );
  }
}
