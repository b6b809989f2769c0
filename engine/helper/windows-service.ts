/**
 * The helper as a Windows service. The Service Control Manager only runs programs that speak
 * its protocol; the addon speaks it (engine/native/src/service_win32.c) from a thread of its
 * own, so the Node runtime running wirelane-helper is the service process, with no wrapper.
 *
 * `wirelane-helper --service` (what packaging/service/install-service.ps1 registers):
 *   start      -> connect to the SCM (it shows "Start pending")
 *   running()  -> once the control pipe is served ("Running"; STOP and shutdown accepted)
 *   STOP / shutdown from the SCM -> onStopRequested(): the helper disconnects every tunnel and
 *                 restores the system, as on SIGTERM
 *   stopped(code) -> "Stopped"; non-zero lets the SCM's recovery actions restart it
 * If the process was not started by the SCM, the addon reports error 1063
 * (ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) and the helper stops with a message saying so.
 */
import type { Logger } from '../logger.js';
import { ioAddon } from '../native/addon.js';

/** The service's name, as install-service.ps1 registers it. */
export const HELPER_SERVICE_NAME = 'WirelaneHelper';
const ERROR_FAILED_SERVICE_CONTROLLER_CONNECT = 1063;

/** The addon's service functions (Windows only). */
export interface ServiceApi {
  serviceStart(name: string, onStop: (error: number) => void): void;
  serviceSetRunning(): void;
  serviceStopped(exitCode: number): void;
}

export class ServiceConnection {
  private state: 'starting' | 'running' | 'stopping' | 'stopped' = 'starting';

  constructor(
    private readonly api: ServiceApi,
    private readonly logger: Logger,
    /** Called once when the SCM asks the service to stop (or cannot be reached). */
    private readonly onStopRequested: (reason: string) => void,
    name = HELPER_SERVICE_NAME,
  ) {
    api.serviceStart(name, (error) => {
      if (this.state === 'stopping' || this.state === 'stopped') return;
      this.state = 'stopping';
      if (error === ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
        this.logger.error('--service: this process was not started by the Service Control Manager; run wirelane-helper without --service, or start the WirelaneHelper service');
        this.onStopRequested('not started as a service');
      } else if (error !== 0) {
        this.logger.error(`--service: the Service Control Manager connection failed (Windows error ${error})`);
        this.onStopRequested('service dispatcher failed');
      } else {
        this.onStopRequested('service stop requested');
      }
    });
  }

  /** The helper is serving: the SCM shows it running. */
  running(): void {
    if (this.state !== 'starting') return;
    this.state = 'running';
    this.api.serviceSetRunning();
  }

  /** Everything is cleaned up; the SCM may end the process after this. */
  stopped(exitCode: number): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.api.serviceStopped(exitCode);
  }
}

/** The addon's service API, or an error saying why it is not there (not Windows). */
export function addonServiceApi(): ServiceApi {
  const { serviceStart, serviceSetRunning, serviceStopped } = ioAddon();
  if (!serviceStart || !serviceSetRunning || !serviceStopped) {
    throw new Error(`--service is for Windows; on ${process.platform} the service manager runs wirelane-helper as it is`);
  }
  return { serviceStart, serviceSetRunning, serviceStopped };
}
