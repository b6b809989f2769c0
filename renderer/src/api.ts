import type { AppError, IpcResult, WirelaneApi } from './contract.js';
/**
 * The only door to the outside: `window.wirelane`, exposed by the preload and typed by the IPC
 * schema (type-only import: nothing of main runs here).
 */

declare global {
  interface Window {
    wirelane: WirelaneApi;
  }
}

export function api(): WirelaneApi {
  return window.wirelane;
}

/**
 * The message to show for a failed call: a sentence for a person, never the channel or the
 * argument index of a schema check ("renameTunnel: 1: ...").
 */
export function errorText(error: AppError): string {
  let message = error.message;
  if (error.code === 'bad_arguments') message = message.replace(/^\w+: (\d+(\.\d+)*|arguments): /, '');
  if (error.code === 'helper_unavailable') message = 'The Wirelane service is not answering; try again once it is back';
  return message.charAt(0).toUpperCase() + message.slice(1);
}

export type { AppError, IpcResult };
