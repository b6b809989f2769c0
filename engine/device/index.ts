/** The engine's Device: what the helper and the wirelane-engine command run per interface. */
export { Device, systemClock, type DeviceClock, type DeviceConstructorOptions } from './device.js';
export type { DeviceOptions, EngineDevice } from './api.js';
export { DROP_REASONS, type DropReason } from './drop-counters.js';
