/**
 * Registers one ipcMain handler per invoke channel of the schema. Every call is checked twice
 * before the relay sees it:
 *   1. the sender: only our own window's top frame, loaded from our own page, may call; anything
 *      else (another webContents, an iframe, a page that navigated away) is refused and logged;
 *   2. the arguments: parsed with the channel's zod tuple; a mismatch returns `bad_arguments`.
 * Handlers that throw are caught: the renderer gets `{code: 'internal'}`, never a stack.
 *
 * The ipcMain and event types are structural so tests (and the e2e relay) pass their own.
 */
import type { Logger } from '../engine/logger.js';
import { channelOf, invokeNames, ipcSchema, type IpcHandlers, type IpcResult } from './ipc-schema.js';

/** The parts of Electron's IpcMainInvokeEvent we read. */
export interface InvokeEventLike {
  sender: { id: number };
  senderFrame: { url: string; parent: unknown } | null;
}

export interface IpcMainLike {
  handle(channel: string, listener: (event: InvokeEventLike, ...args: unknown[]) => Promise<unknown>): void;
  removeHandler(channel: string): void;
}

export interface TrustedSender {
  /** webContents id of our window, or null while there is no window. */
  webContentsId(): number | null;
  /** The URL our window loads (file://…/index.html); the frame must be on it (hash and query aside). */
  pageUrl: string;
}

/** Whether an IPC call comes from our window's top frame showing our page. */
export function isTrustedSender(event: InvokeEventLike, trusted: TrustedSender): boolean {
  const id = trusted.webContentsId();
  if (id === null || event.sender.id !== id) return false;
  const frame = event.senderFrame;
  if (!frame || frame.parent) return false;
  return stripHashAndQuery(frame.url) === stripHashAndQuery(trusted.pageUrl);
}

function stripHashAndQuery(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.hash = '';
    parsed.search = '';
    return parsed.href;
  } catch {
    return '';
  }
}

export function registerIpcHandlers(ipcMain: IpcMainLike, handlers: IpcHandlers, trusted: TrustedSender, logger: Logger): () => void {
  for (const name of invokeNames) {
    const spec = ipcSchema[name];
    const handler = handlers[name] as (...args: unknown[]) => Promise<IpcResult<unknown>>;
    ipcMain.handle(channelOf(name), async (event, ...args): Promise<IpcResult<unknown>> => {
      if (!isTrustedSender(event, trusted)) {
        logger.warn(`refused a "${name}" call from a sender that is not the Wirelane window (${event.senderFrame?.url ?? 'no frame'})`);
        return { ok: false, error: { code: 'forbidden', message: 'only the Wirelane window may call this' } };
      }
      const parsed = spec.args.safeParse(args);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return {
          ok: false,
          error: { code: 'bad_arguments', message: `${name}: ${issue ? `${issue.path.join('.') || 'arguments'}: ${issue.message}` : 'bad arguments'}` },
        };
      }
      try {
        return await handler(...(parsed.data as unknown[]));
      } catch (error) {
        logger.error(`the "${name}" handler failed: ${String(error)}`);
        return { ok: false, error: { code: 'internal', message: `${name} failed inside the app` } };
      }
    });
  }
  return () => {
    for (const name of invokeNames) ipcMain.removeHandler(channelOf(name));
  };
}
