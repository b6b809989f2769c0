/**
 * The control API between the unprivileged app (main, preload, renderer, the `wirelane` command)
 * and the privileged helper. This is the ONE place its messages are declared: every request,
 * every reply and every event, as zod schemas and as the TypeScript types inferred from them.
 *
 * Wire format: newline-delimited JSON over a Unix socket (Linux, macOS) or a named pipe
 * (Windows). One JSON object per line, at most MAX_MESSAGE_BYTES bytes including the newline.
 *
 *   client -> helper   request   {"id": 1, "type": "connect", "name": "office"}
 *   helper -> client   reply     {"id": 1, "ok": true, "result": {...}}
 *                                {"id": 1, "ok": false, "error": {"code": "not_found", "message": "..."}}
 *   helper -> client   event     {"event": "status", "tunnels": [...]}   (after `subscribe` only)
 *
 * Replies carry the id of their request; a message too malformed to have an id gets a reply with
 * `id: null`. Events have no id. The helper validates every request against these schemas before
 * it acts on it.
 *
 * This file imports nothing but zod, so the renderer and preload can import it without pulling
 * in Node modules. Changes must stay additive: the desktop app is built against it.
 */
import { z } from 'zod';

/** Version of this protocol; bumped only for a change an old client could not ignore. */
export const PROTOCOL_VERSION = 1;

/** Largest message either side accepts, newline included. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/** Largest .conf text accepted by import/update (a big config with many peers fits easily). */
export const MAX_CONF_TEXT_CHARS = 256 * 1024;

/** Lines a tunnel's log ring keeps. */
export const LOG_RING_LINES = 1000;

// ---------------------------------------------------------------------------------------------
// Shared values

/**
 * A tunnel name is also its interface name, so it follows what wg-quick allows:
 * "^[a-zA-Z0-9_=+.-]{1,15}$" (wg-quick's own check; 15 = IFNAMSIZ - 1). "." and ".." are
 * refused too: Linux refuses them as interface names, and they look like paths.
 */
export const TUNNEL_NAME_PATTERN = /^[a-zA-Z0-9_=+.-]{1,15}$/;

export const tunnelNameSchema = z
  .string()
  .regex(TUNNEL_NAME_PATTERN, 'a tunnel name is 1-15 characters of letters, digits and _=+.-')
  .refine((name) => name !== '.' && name !== '..', 'a tunnel name cannot be "." or ".."');
export type TunnelName = z.infer<typeof tunnelNameSchema>;

/** Any C0 control character or DEL, newlines included. */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;
/** Control characters other than tab, LF and CR (allowed in .conf text). */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS_EXCEPT_LINE_BREAKS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** A one-line string: no control characters, no newlines. */
export function singleLine(max: number) {
  return z
    .string()
    .max(max)
    .refine((s) => !CONTROL_CHARACTERS.test(s), 'control characters and line breaks are not allowed');
}

/** The text of a wg-quick .conf file. */
export const confTextSchema = z
  .string()
  .max(MAX_CONF_TEXT_CHARS, `a configuration is at most ${MAX_CONF_TEXT_CHARS} characters`)
  .refine(
    (s) => !CONTROL_CHARACTERS_EXCEPT_LINE_BREAKS.test(s),
    'a configuration may not contain control characters other than tab and line breaks',
  );

/** A request id chosen by the client; echoed in the reply. */
export const requestIdSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export type RequestId = z.infer<typeof requestIdSchema>;

/**
 * What `get` shows instead of a stored secret key, and what `update` and `validate` read as
 * "the stored key": never a valid base64 key, so it cannot be mistaken for one.
 */
export const HIDDEN_KEY_MARKER = '(hidden)';

/** A WireGuard key in base64 (44 characters, 32 bytes). */
export const base64KeySchema = z.string().regex(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/, 'not a base64 WireGuard key');

// ---------------------------------------------------------------------------------------------
// Tunnel state, shared with the UI (tray icon and window are pure functions of it)

/**
 * What a tunnel is doing, as the user should be told. `connected` only once a handshake with a
 * peer has completed; every time is wall-clock Unix ms.
 */
export const tunnelStateSchema = z.discriminatedUnion('state', [
  z.object({ state: z.literal('disconnected') }),
  /** since: Unix ms the connect began; no handshake has completed yet. */
  z.object({ state: z.literal('connecting'), since: z.number() }),
  /** since: Unix ms of the first completed handshake of this connection. */
  z.object({ state: z.literal('connected'), since: z.number() }),
  /**
   * Was connected, but handshake attempts have gone unanswered while there was something to send.
   * since: as in connected (when the connection was first made); unansweredSince: Unix ms of the
   * first unanswered handshake attempt.
   */
  z.object({ state: z.literal('reconnecting'), since: z.number(), unansweredSince: z.number() }),
  /** reason: one sentence for a person, e.g. "cannot resolve vpn.example.com". */
  z.object({ state: z.literal('failed'), reason: singleLine(2000) }),
]);
export type TunnelState = z.infer<typeof tunnelStateSchema>;

export const tunnelStatusSchema = z.object({
  name: tunnelNameSchema,
  status: tunnelStateSchema,
  /** Unix ms of the most recent handshake with any peer; null when none yet. */
  latestHandshake: z.number().nullable(),
  rxBytes: z.number().int().min(0),
  txBytes: z.number().int().min(0),
  /** The endpoint of the peer that handshook last ("192.0.2.1:51820", "[2001:db8::1]:51820"). */
  endpoint: z.string().nullable(),
});
export type TunnelStatus = z.infer<typeof tunnelStatusSchema>;

/** A connected tunnel's device as `wg show` prints it (keys are public keys only). */
export const peerDetailsSchema = z.object({
  publicKey: z.string(),
  hasPresharedKey: z.boolean(),
  endpoint: z.string().nullable(),
  allowedIps: z.array(z.string()),
  /** Unix ms, null when never. */
  latestHandshake: z.number().nullable(),
  rxBytes: z.number().int().min(0),
  txBytes: z.number().int().min(0),
  /** Seconds, 0 when off. */
  persistentKeepalive: z.number().int().min(0),
});
export type PeerDetails = z.infer<typeof peerDetailsSchema>;

export const deviceDetailsSchema = z.object({
  interfaceName: z.string(),
  publicKey: z.string(),
  listenPort: z.number().int().min(0),
  fwmark: z.number().int().min(0),
  peers: z.array(peerDetailsSchema),
});
export type DeviceDetails = z.infer<typeof deviceDetailsSchema>;

/**
 * A tunnel's scripts (PreUp/PostUp/PreDown/PostDown): they run as root only once an
 * administrator approved them for this tunnel, and any change to them voids the approval
 * (engine/helper/script-approval.ts).
 */
export const tunnelScriptsSchema = z.object({
  /** The file has scripts (always true where this object is sent; null means none). */
  present: z.boolean(),
  /** Root approved exactly these scripts of this tunnel: they run on connect and disconnect. */
  approved: z.boolean(),
  /** What an administrator runs to approve them, e.g. "sudo wirelane scripts allow office". */
  approveCommand: singleLine(200),
});
export type TunnelScripts = z.infer<typeof tunnelScriptsSchema>;

/** What the list shows about a stored tunnel, without secrets. */
export const tunnelSummarySchema = z.object({
  name: tunnelNameSchema,
  /** The interface's public key (base64). */
  publicKey: z.string(),
  /** Interface addresses as written in the file ("10.0.0.1/24"). */
  addresses: z.array(z.string()),
  /** Peer endpoints as written ("vpn.example.com:51820"). */
  endpoints: z.array(z.string()),
  /** The file has PreUp/PostUp/PreDown/PostDown. */
  hasScripts: z.boolean(),
  /** Whether they are approved and how to approve them; null without scripts, absent from older helpers. */
  scripts: tunnelScriptsSchema.nullable().optional(),
  /** Some peer's AllowedIPs has 0.0.0.0/0 or ::/0: all traffic goes through the tunnel. */
  fullTunnel: z.boolean(),
  /**
   * The kill switch is enabled: while the tunnel is on, nothing leaves outside it towards its
   * AllowedIPs (a full tunnel: towards anything). On by default for full tunnels.
   */
  killSwitch: z.boolean(),
  status: tunnelStatusSchema,
});
export type TunnelSummary = z.infer<typeof tunnelSummarySchema>;

/**
 * A problem in a .conf file, with its 1-based line (0 when it concerns the whole file). An error
 * (severity absent or 'error') stops an import; a warning (the linter, engine/conf/lint.ts) says
 * why something will likely not work as meant and what to do, and stops nothing. Warnings travel
 * in their own `warnings` lists, so a client that predates them never mistakes one for an error.
 */
export const confProblemSchema = z.object({
  line: z.number().int().min(0),
  message: z.string(),
  severity: z.enum(['error', 'warning']).optional(),
});
export type ConfProblem = z.infer<typeof confProblemSchema>;

export const logLevelSchema = z.enum(['debug', 'info', 'warn', 'error']);
export type LogLevel = z.infer<typeof logLevelSchema>;

/**
 * Settings the helper keeps for everyone who uses it (in its store, `helper-preferences.json`),
 * which the app's settings screen and `wirelane settings` read and change. Per-tunnel settings
 * (the kill switch) are requests of their own.
 */
export const helperSettingsSchema = z.object({
  /** The lowest level the helper writes to its log (stderr, the service's journal). */
  logLevel: logLevelSchema,
});
export type HelperSettings = z.infer<typeof helperSettingsSchema>;

export const logEntrySchema = z.object({
  /** Unix ms. */
  time: z.number(),
  level: logLevelSchema,
  message: z.string(),
});
export type LogEntry = z.infer<typeof logEntrySchema>;

/** A line of the helper's whole log: of one tunnel (name), or of the helper itself (null). */
export const helperLogEntrySchema = logEntrySchema.extend({ name: tunnelNameSchema.nullable() });
export type HelperLogEntry = z.infer<typeof helperLogEntrySchema>;

// ---------------------------------------------------------------------------------------------
// Errors

export const errorCodeSchema = z.enum([
  /** The message is not JSON, not an object, or its fields are wrong. */
  'bad_request',
  /** The message exceeds MAX_MESSAGE_BYTES. */
  'too_large',
  /** No such request type. */
  'unknown_type',
  /** The .conf text does not parse; `problems` lists each with its line. */
  'invalid_config',
  /** No tunnel with that name. */
  'not_found',
  /** A tunnel with that name exists already. */
  'already_exists',
  /** connect of a tunnel that is up, or update/rename/delete of one that is up. */
  'already_connected',
  'not_connected',
  /** Bringing the tunnel up failed; the system was rolled back. */
  'connect_failed',
  /** The client may not do this. */
  'forbidden',
  /**
   * The helper serves as many connections as it allows (of this user, or in total); the
   * connection is closed. Try again once another of the user's connections has ended.
   */
  'busy',
  /** A message was not completed in time (MESSAGE_TIMEOUT_MS); the connection is closed. */
  'timeout',
  /** A bug or an OS failure; `message` says what. */
  'internal',
]);
export type ErrorCode = z.infer<typeof errorCodeSchema>;

export const errorSchema = z.object({
  code: errorCodeSchema,
  message: z.string(),
  /** For invalid_config: every problem found, line-numbered. */
  problems: z.array(confProblemSchema).optional(),
});
export type ProtocolError = z.infer<typeof errorSchema>;

// ---------------------------------------------------------------------------------------------
// Requests: parameters and results per type

const nameParams = { name: tunnelNameSchema };

/** Parameters of each request type (besides `id` and `type`). */
export const requestParamSchemas = {
  /** Every stored tunnel with its status. */
  list: z.object({}),
  /**
   * One tunnel: its summary and its .conf text with every PrivateKey and PresharedKey value
   * replaced by HIDDEN_KEY_MARKER. This is what the editor shows.
   */
  get: z.object(nameParams),
  /** Stores a new tunnel from .conf text. Fails with invalid_config (and problems) or already_exists. */
  import: z.object({ name: tunnelNameSchema, confText: confTextSchema }),
  /**
   * Replaces a stored tunnel's .conf text; refused while it is connected. A key whose value is
   * exactly HIDDEN_KEY_MARKER keeps the stored one: the interface's PrivateKey, or the PresharedKey
   * of the stored peer with the same PublicKey. Any other invalid key is an error.
   */
  update: z.object({ name: tunnelNameSchema, confText: confTextSchema }),
  rename: z.object({ name: tunnelNameSchema, newName: tunnelNameSchema }),
  delete: z.object(nameParams),
  /** Brings a tunnel up; the reply comes once it is connected or has failed. */
  connect: z.object(nameParams),
  disconnect: z.object(nameParams),
  /** Status of one tunnel, or of all when name is absent. */
  status: z.object({ name: tunnelNameSchema.optional() }),
  /**
   * Starts events on this connection: `status` at least once a second, `log` lines as they
   * come (optionally of one tunnel only), `tunnels` when the list changes.
   */
  subscribe: z.object({ logs: z.boolean().optional(), logsOf: tunnelNameSchema.optional() }),
  unsubscribe: z.object({}),
  /** The recent log lines of a tunnel (a bounded ring), oldest first. */
  logs: z.object({ name: tunnelNameSchema, limit: z.number().int().min(1).max(LOG_RING_LINES).optional() }),
  /**
   * The recent lines of the whole helper (a bounded ring), oldest first: its own and every
   * tunnel's, each with the tunnel's name (null for the helper's own).
   */
  helperLog: z.object({ limit: z.number().int().min(1).max(LOG_RING_LINES).optional() }),
  /** A fresh key pair for a new configuration; nothing is stored. */
  generateKeypair: z.object({}),
  /** The full .conf text, private key included: the only way a stored private key leaves the helper. */
  export: z.object(nameParams),
  version: z.object({}),
  /** A tunnel's status and, while it runs, its device as `wg show` prints it. */
  show: z.object(nameParams),
  /**
   * Checks .conf text without storing anything (the editor validates while a person types).
   * With `name` of a stored tunnel, HIDDEN_KEY_MARKER values stand for that tunnel's stored keys,
   * as in `update`; without it they are taken as well-formed.
   */
  validate: z.object({ confText: confTextSchema, name: tunnelNameSchema.optional() }),
  /**
   * Enables or disables a tunnel's kill switch (stored beside the tunnel, not in its .conf). For a
   * tunnel that is on, the firewall follows at once.
   */
  setKillSwitch: z.object({ name: tunnelNameSchema, enabled: z.boolean() }),
  /**
   * Root only (the peer's uid, from the kernel): approves the tunnel's scripts as they are now
   * (approved: true; refused for a tunnel without scripts), or withdraws the approval (false).
   * Anyone else gets `forbidden`.
   */
  setScriptsApproval: z.object({ name: tunnelNameSchema, approved: z.boolean() }),
  /** The helper's own settings (helperSettingsSchema). */
  getSettings: z.object({}),
  /** Changes the given settings, keeps the others, stores them; replies with all of them. */
  setSettings: helperSettingsSchema.partial(),
} as const;

export type RequestType = keyof typeof requestParamSchemas;
export const requestTypes = Object.keys(requestParamSchemas) as RequestType[];

/** The linter's warnings about a configuration (each with severity 'warning'), in line order. */
const warningsField = z.array(confProblemSchema).optional();

const importResult = z.object({
  name: tunnelNameSchema,
  hasScripts: z.boolean(),
  fullTunnel: z.boolean(),
  /** Absent from helpers that predate the linter. */
  warnings: warningsField,
});

/** The `result` of a successful reply, per request type. */
export const resultSchemas = {
  list: z.object({ tunnels: z.array(tunnelSummarySchema) }),
  get: z.object({ tunnel: tunnelSummarySchema, confText: z.string() }),
  import: importResult,
  update: importResult,
  rename: z.object({ name: tunnelNameSchema }),
  delete: z.object({}),
  connect: z.object({ status: tunnelStatusSchema }),
  disconnect: z.object({ status: tunnelStatusSchema }),
  status: z.object({ tunnels: z.array(tunnelStatusSchema) }),
  subscribe: z.object({}),
  unsubscribe: z.object({}),
  logs: z.object({ name: tunnelNameSchema, entries: z.array(logEntrySchema) }),
  helperLog: z.object({ entries: z.array(helperLogEntrySchema) }),
  generateKeypair: z.object({ privateKey: base64KeySchema, publicKey: base64KeySchema }),
  export: z.object({ name: tunnelNameSchema, confText: z.string() }),
  version: z.object({ helperVersion: z.string(), protocolVersion: z.number().int(), platform: z.string() }),
  show: z.object({ status: tunnelStatusSchema, device: deviceDetailsSchema.nullable() }),
  /**
   * problems (errors only) is empty when the text is valid; hasScripts and fullTunnel are false
   * when it is not. warnings are the linter's, for valid text only (absent from older helpers).
   */
  validate: z.object({ problems: z.array(confProblemSchema), hasScripts: z.boolean(), fullTunnel: z.boolean(), warnings: warningsField }),
  setKillSwitch: z.object({ tunnel: tunnelSummarySchema }),
  setScriptsApproval: z.object({ tunnel: tunnelSummarySchema }),
  getSettings: z.object({ settings: helperSettingsSchema }),
  setSettings: z.object({ settings: helperSettingsSchema }),
} as const satisfies Record<RequestType, z.ZodType>;

export type RequestParams<T extends RequestType> = z.infer<(typeof requestParamSchemas)[T]>;
export type ResultOf<T extends RequestType> = z.infer<(typeof resultSchemas)[T]>;

function requestSchemaOf<T extends RequestType>(type: T) {
  const params: (typeof requestParamSchemas)[T] = requestParamSchemas[type];
  return z.strictObject({ id: requestIdSchema, type: z.literal(type), ...(params.shape as (typeof requestParamSchemas)[T]['shape']) });
}

/** Any valid request, discriminated by `type`. Unknown fields are refused. */
export const requestSchema = z.discriminatedUnion('type', [
  requestSchemaOf('list'),
  requestSchemaOf('get'),
  requestSchemaOf('import'),
  requestSchemaOf('update'),
  requestSchemaOf('rename'),
  requestSchemaOf('delete'),
  requestSchemaOf('connect'),
  requestSchemaOf('disconnect'),
  requestSchemaOf('status'),
  requestSchemaOf('subscribe'),
  requestSchemaOf('unsubscribe'),
  requestSchemaOf('logs'),
  requestSchemaOf('helperLog'),
  requestSchemaOf('generateKeypair'),
  requestSchemaOf('export'),
  requestSchemaOf('version'),
  requestSchemaOf('show'),
  requestSchemaOf('validate'),
  requestSchemaOf('setKillSwitch'),
  requestSchemaOf('setScriptsApproval'),
  requestSchemaOf('getSettings'),
  requestSchemaOf('setSettings'),
]);
export type Request = z.infer<typeof requestSchema>;
/** The request of one type, e.g. RequestOf<'connect'> = {id, type: 'connect', name}. */
export type RequestOf<T extends RequestType> = Extract<Request, { type: T }>;

// ---------------------------------------------------------------------------------------------
// Replies

/** id is null only when the request was too malformed to read one. */
export const replyIdSchema = requestIdSchema.nullable();

export const errorReplySchema = z.object({ id: replyIdSchema, ok: z.literal(false), error: errorSchema });
export type ErrorReply = z.infer<typeof errorReplySchema>;

/** A success reply whose result is not checked against its request type (see parseResult). */
export const okReplySchema = z.object({ id: requestIdSchema, ok: z.literal(true), result: z.unknown() });
export type OkReply<T extends RequestType = RequestType> = { id: RequestId; ok: true; result: ResultOf<T> };

export const replySchema = z.discriminatedUnion('ok', [okReplySchema, errorReplySchema]);
export type Reply<T extends RequestType = RequestType> = OkReply<T> | ErrorReply;

/** Checks the result of a success reply against what its request type returns. */
export function parseResult<T extends RequestType>(type: T, result: unknown): ResultOf<T> {
  return resultSchemas[type].parse(result) as ResultOf<T>;
}

// ---------------------------------------------------------------------------------------------
// Events (sent only to subscribed connections)

export const eventSchema = z.discriminatedUnion('event', [
  /** Every tunnel's status, at least once a second while subscribed. */
  z.object({ event: z.literal('status'), tunnels: z.array(tunnelStatusSchema) }),
  /** One log line of one tunnel (or of the helper itself: name null). */
  z.object({ event: z.literal('log'), name: tunnelNameSchema.nullable(), entry: logEntrySchema }),
  /** The stored tunnels changed (import, update, rename, delete). */
  z.object({ event: z.literal('tunnels'), tunnels: z.array(tunnelSummarySchema) }),
]);
export type HelperEvent = z.infer<typeof eventSchema>;
export type EventName = HelperEvent['event'];

/** Anything the helper sends. */
export const serverMessageSchema = z.union([replySchema, eventSchema]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;

/** True for an event, false for a reply. */
export function isEvent(message: ServerMessage): message is HelperEvent {
  return 'event' in message;
}
