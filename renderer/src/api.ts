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

/** The message to show for a failed call. */
export function errorText(error: AppError): string {
  return error.message.charAt(0).toUpperCase() + error.message.slice(1);
}

export type { AppError, IpcResult };
