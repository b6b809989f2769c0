/**
 * The one declaration of the window's API: every channel between the renderer and main, with
 * the zod schema of its arguments and the type of what it returns or pushes.
 *
 * Everything else derives from this object, so nothing is declared twice:
 *   - main/ipc-handlers.ts registers one ipcMain handler per `invoke` entry and validates the
 *     arguments against `args` (and the sender) before the relay sees them;
 *   - main/preload.ts builds `window.wirelane` by walking this object: one method per entry,
 *     never a raw ipcRenderer or a generic send;
 *   - the renderer imports the type `WirelaneApi` (type-only) and calls those methods.
 *
 * Invoke results are values, not exceptions: `{ ok: true, value }` or `{ ok: false, error }`,
 * where error is the helper's `{ code, message, problems? }` or one of main's own codes. Errors
 * thrown across Electron's IPC lose their fields, so none are thrown on purpose.
 */
import { z } from 'zod';
import {
  base64KeySchema,
  confTextSchema,
  helperSettingsSchema,
  tunnelNameSchema,
  type ConfProblem,
  type ErrorCode,
  type LogEntry,
  type ResultOf,
  type TunnelName,
  type TunnelStatus,
  type TunnelSummary,
} from '../engine/helper/protocol.js';

// ---------------------------------------------------------------------------------------------
// Values that cross the bridge

/**
 * Whether the app can talk to the privileged helper. `not_installed` means its socket folder is
 * missing (the service was never installed); `not_running` means the folder is there but nobody
 * answers; `refused` means the helper answered but does not authorise this user.
 */
export type HelperAvailability =
  | { state: 'connecting'; socketPath: string }
  | { state: 'running'; socketPath: string; helperVersion: string; platform: string }
  | { state: 'not_running'; socketPath: string; detail: string }
  | { state: 'not_installed'; socketPath: string }
  | { state: 'refused'; socketPath: string; detail: string };

/** What the window needs to draw itself; main holds the truth and pushes a new one on change. */
export interface AppSnapshot {
  helper: HelperAvailability;
  /** What to do when the helper is not installed or not running, for this platform; else null. */
  advice: string | null;
  tunnels: TunnelSummary[];
}

/** Error codes of main itself, beside the helper's. */
export type AppErrorCode =
  | ErrorCode
  /** The helper is not reachable right now. */
  | 'helper_unavailable'
  /** The helper did not answer in time. */
  | 'timeout'
  /** The call's arguments did not match the schema. */
  | 'bad_arguments'
  /** The person closed a dialog without choosing. */
  | 'cancelled';

export interface AppError {
  code: AppErrorCode;
  message: string;
  problems?: ConfProblem[];
}

/**
 * The app's own settings, kept per user by main (main/app-settings.ts), not by the helper:
 *   launchAtLogin  start Wirelane when the person logs in (Linux: an XDG autostart entry;
 *                  macOS and Windows: the system's login items);
 *   startHidden    when started at login, show only the tray icon, no window;
 *   theme          the window's colours: follow the system, or always light or dark.
 * The helper's settings (log level) are `getHelperSettings` / `setHelperSettings`.
 */
export const appThemeSchema = z.enum(['system', 'light', 'dark']);
export type AppTheme = z.infer<typeof appThemeSchema>;
export const appSettingsSchema = z.strictObject({
  launchAtLogin: z.boolean(),
  startHidden: z.boolean(),
  theme: appThemeSchema,
});
export type AppSettings = z.infer<typeof appSettingsSchema>;
/** What setAppSettings takes: the settings to change; the others stay. */
export const appSettingsChangeSchema = appSettingsSchema.partial();
export type AppSettingsChange = z.infer<typeof appSettingsChangeSchema>;

export type IpcResult<T> = { ok: true; value: T } | { ok: false; error: AppError };

/** A file the person chose in the import dialog, read by main (the renderer cannot read files). */
export interface PickedFile {
  fileName: string;
  bytes: Uint8Array;
}

/** One log line pushed live. */
export interface LogPush {
  name: TunnelName | null;
  entry: LogEntry;
}

// ---------------------------------------------------------------------------------------------
// Declaration helpers: a spec carries its argument schema at run time and its result type only
// at compile time (the phantom field is never read).

export interface InvokeSpec<Args extends z.ZodTuple, Result> {
  readonly kind: 'invoke';
  readonly args: Args;
  readonly result?: Result;
}

export interface PushSpec<Payload> {
  readonly kind: 'push';
  readonly payload?: Payload;
}

function invoke<Result>() {
  return <Args extends z.ZodTuple>(args: Args): InvokeSpec<Args, Result> => ({ kind: 'invoke', args });
}

function push<Payload>(): PushSpec<Payload> {
  return { kind: 'push' };
}

const noArgs = z.tuple([]);
const nameArg = z.tuple([tunnelNameSchema]);
const nameAndConfArgs = z.tuple([tunnelNameSchema, confTextSchema]);

/** Most files a person may pick or drop at once; a zip counts as one. */
export const MAX_IMPORT_FILES = 64;

export const ipcSchema = {
  /** The helper's availability and every stored tunnel, as main knows them now. */
  getSnapshot: invoke<AppSnapshot>()(noArgs),
  /**
   * One tunnel's summary and its .conf text with its keys shown as "(hidden)": what the editor
   * loads. Saving that text back through `updateTunnel` keeps the stored keys, so a private key
   * reaches the window only in an explicit export (written to a file by main, `exportTunnels`).
   */
  getTunnel: invoke<ResultOf<'get'>>()(nameArg),
  /**
   * Checks .conf text as the helper would import it, storing nothing: for live problems in the
   * editor. With the name of a stored tunnel, "(hidden)" keys are checked against its stored keys.
   */
  validateConf: invoke<ResultOf<'validate'>>()(z.tuple([confTextSchema, tunnelNameSchema.optional()])),
  importTunnel: invoke<ResultOf<'import'>>()(nameAndConfArgs),
  updateTunnel: invoke<ResultOf<'update'>>()(nameAndConfArgs),
  renameTunnel: invoke<ResultOf<'rename'>>()(z.tuple([tunnelNameSchema, tunnelNameSchema])),
  deleteTunnel: invoke<ResultOf<'delete'>>()(nameArg),
  connectTunnel: invoke<ResultOf<'connect'>>()(nameArg),
  disconnectTunnel: invoke<ResultOf<'disconnect'>>()(nameArg),
  getLogs: invoke<ResultOf<'logs'>>()(nameArg),
  generateKeypair: invoke<ResultOf<'generateKeypair'>>()(noArgs),
  /** Opens the native file dialog; returns the chosen .conf/.zip files' (or QR images') bytes. */
  pickImportFiles: invoke<PickedFile[]>()(noArgs),
  /** Asks where to save and writes the tunnels' full .conf (one file, or a .zip for several). */
  exportTunnels: invoke<{ savedTo: string }>()(z.tuple([z.array(tunnelNameSchema).min(1).max(1000)])),
  /** Copies a public key to the clipboard (only a key: nothing else may be written this way). */
  copyPublicKey: invoke<null>()(z.tuple([base64KeySchema])),
  /** A tunnel's status and, while it runs, its device: per-peer handshake, transfer and endpoint. */
  getTunnelDetails: invoke<ResultOf<'show'>>()(nameArg),
  /** The whole helper's recent log: its own lines and every tunnel's. */
  getHelperLog: invoke<ResultOf<'helperLog'>>()(noArgs),
  /** Copies a log (one tunnel's, or the whole helper's with null) to the clipboard, as text main formats. */
  copyLog: invoke<null>()(z.tuple([tunnelNameSchema.nullable()])),
  /** Asks where to save and writes a log (one tunnel's, or the whole helper's with null) as text. */
  saveLog: invoke<{ savedTo: string }>()(z.tuple([tunnelNameSchema.nullable()])),
  /** The app's settings (launch at login, start hidden, theme). */
  getAppSettings: invoke<AppSettings>()(noArgs),
  /** Changes the given app settings, applies them (login item, theme) and stores them; returns all. */
  setAppSettings: invoke<AppSettings>()(z.tuple([appSettingsChangeSchema])),
  /** The helper's settings (log level), kept by the helper for every user. */
  getHelperSettings: invoke<ResultOf<'getSettings'>>()(noArgs),
  /** Changes the given helper settings; returns all of them. */
  setHelperSettings: invoke<ResultOf<'setSettings'>>()(z.tuple([helperSettingsSchema.partial().strict()])),
  /** Turns a tunnel's kill switch on or off; returns its new summary. */
  setKillSwitch: invoke<ResultOf<'setKillSwitch'>>()(z.tuple([tunnelNameSchema, z.boolean()])),

  /** A new snapshot: the helper came or went, or the stored tunnels changed. */
  onSnapshot: push<AppSnapshot>(),
  /** Every tunnel's live status, about once a second while the helper runs. */
  onStatus: push<TunnelStatus[]>(),
  /** A log line, as the helper writes it. */
  onLog: push<LogPush>(),
  /** The tray's "Import tunnel from file…" picked files: the window takes over from here. */
  onImportFiles: push<PickedFile[]>(),
  /** The app's settings changed (from the window or the tray). */
  onAppSettings: push<AppSettings>(),
} as const;

export type IpcSchema = typeof ipcSchema;
export type InvokeName = { [K in keyof IpcSchema]: IpcSchema[K] extends InvokeSpec<z.ZodTuple, unknown> ? K : never }[keyof IpcSchema];
export type PushName = { [K in keyof IpcSchema]: IpcSchema[K] extends PushSpec<unknown> ? K : never }[keyof IpcSchema];

export type InvokeArgs<K extends InvokeName> = IpcSchema[K] extends InvokeSpec<infer A, unknown> ? z.infer<A> : never;
export type InvokeResult<K extends InvokeName> = IpcSchema[K] extends InvokeSpec<z.ZodTuple, infer R> ? R : never;
export type PushPayload<K extends PushName> = IpcSchema[K] extends PushSpec<infer P> ? P : never;

/** What main implements: one async function per invoke channel, arguments already validated. */
export type IpcHandlers = {
  [K in InvokeName]: (...args: InvokeArgs<K>) => Promise<IpcResult<InvokeResult<K>>>;
};

export interface SubscribeOptions {
  /** Aborting it removes the listener. */
  signal?: AbortSignal;
}

/** `window.wirelane`, as the renderer sees it. */
export type WirelaneApi = IpcHandlers & {
  [K in PushName]: (listener: (payload: PushPayload<K>) => void, options?: SubscribeOptions) => () => void;
};

/** The Electron channel of an entry; one prefix so main can tell ours from anything else. */
export function channelOf(name: keyof IpcSchema): string {
  return `wirelane:${name}`;
}

export const invokeNames = (Object.keys(ipcSchema) as (keyof IpcSchema)[]).filter(
  (name): name is InvokeName => ipcSchema[name].kind === 'invoke',
);
export const pushNames = (Object.keys(ipcSchema) as (keyof IpcSchema)[]).filter(
  (name): name is PushName => ipcSchema[name].kind === 'push',
);
