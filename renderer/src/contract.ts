/**
 * Every type the window shares with the rest of the app, in one place: the helper's protocol
 * (engine/helper/protocol.ts) and main's IPC schema (main/ipc-schema.ts). Type-only: nothing of
 * main or of the helper runs in the renderer. Components import these names from here and
 * from nowhere else outside renderer/.
 */
export type {
  ConfProblem,
  DeviceDetails,
  HelperLogEntry,
  HelperSettings,
  LogEntry,
  LogLevel,
  PeerDetails,
  TunnelScripts,
  TunnelState,
  TunnelStatus,
  TunnelSummary,
} from '../../engine/helper/protocol.js';
export type { AppError, AppSettings, AppSnapshot, AppTheme, HelperAvailability, IpcResult, LogPush, PickedFile, WirelaneApi } from '../../main/ipc-schema.js';
