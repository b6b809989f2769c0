/**
 * The helper as a Windows service: the order of the Service Control Manager calls the helper
 * makes (through a fake of the addon's service functions), and that the install script
 * registers what the helper and the rest of the code expect. Windows cannot run here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CLIENT_GROUP } from '../../engine/helper/authorisation.js';
import { helperDefaults } from '../../engine/helper/defaults.js';
import { HELPER_SERVICE_NAME, ServiceConnection, type ServiceApi } from '../../engine/helper/windows-service.js';
import type { Logger } from '../../engine/logger.js';
import { repoPath } from '../support/paths.js';

class FakeScm implements ServiceApi {
  readonly calls: string[] = [];
  private onStop: ((error: number) => void) | null = null;
  serviceStart(name: string, onStop: (error: number) => void): void {
    this.calls.push(`start ${name}`);
    this.onStop = onStop;
  }
  serviceSetRunning(): void {
    this.calls.push('running');
  }
  serviceStopped(exitCode: number): void {
    this.calls.push(`stopped ${exitCode}`);
  }
  /** The SCM sends STOP (error 0) or the dispatcher fails (a Windows error). */
  control(error = 0): void {
    this.onStop!(error);
  }
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (message: string) => lines.push(`${level}: ${message}`);
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

test('start, running once serving, STOP asks the helper to stop once, then stopped with its exit code', () => {
  const scm = new FakeScm();
  const stops: string[] = [];
  const service = new ServiceConnection(scm, recordingLogger(), (reason) => stops.push(reason));
  service.running();
  service.running();
  scm.control();
  scm.control(); // STOP and then SHUTDOWN: the helper stops once
  service.stopped(0);
  service.stopped(0);
  assert.deepEqual(scm.calls, [`start ${HELPER_SERVICE_NAME}`, 'running', 'stopped 0']);
  assert.deepEqual(stops, ['service stop requested']);
});

test('a STOP while the helper is still starting is not followed by "running"', () => {
  const scm = new FakeScm();
  const stops: string[] = [];
  const service = new ServiceConnection(scm, recordingLogger(), (reason) => stops.push(reason));
  scm.control();
  service.running();
  service.stopped(1);
  assert.deepEqual(scm.calls, [`start ${HELPER_SERVICE_NAME}`, 'stopped 1']);
  assert.deepEqual(stops, ['service stop requested']);
});

test('run by hand with --service (not by the SCM, error 1063), the helper says what to do and stops', () => {
  const scm = new FakeScm();
  const logger = recordingLogger();
  const stops: string[] = [];
  new ServiceConnection(scm, logger, (reason) => stops.push(reason));
  scm.control(1063);
  assert.deepEqual(stops, ['not started as a service']);
  assert.match(logger.lines.join('\n'), /^error: --service: this process was not started by the Service Control Manager; run wirelane-helper without --service/m);
});

const script = readFileSync(repoPath('packaging', 'service', 'install-service.ps1'), 'utf8');

test('install-service.ps1 registers the helper with --service, under the name and pipe the code uses', () => {
  assert.match(script, new RegExp(`\\$name = '${HELPER_SERVICE_NAME}'`));
  assert.match(script, new RegExp(`\\$group = '${CLIENT_GROUP}'`));
  const binPath = /\$binPath = "(.*)"$/m.exec(script)?.[1];
  assert.ok(binPath, 'the script builds $binPath');
  assert.match(binPath, /--service/);
  assert.ok(binPath.includes(`--socket ${helperDefaults('win32').socket}`), binPath);
  // every path in the image path is quoted (`" ... `"), so no unquoted-path hijack
  assert.match(binPath, /^`"\$electron`" `"\$helper`" .* --store `"\$store`"$/);
});

test('install-service.ps1 runs the app in Node mode, restarts on failure and ships no missing wrapper', () => {
  assert.match(script, /-Name 'Environment' -Type MultiString -Value @\('ELECTRON_RUN_AS_NODE=1'\)/);
  assert.match(script, /failure \$name reset= 60 actions= restart/);
  assert.match(script, /failureflag \$name 1/);
  assert.match(script, /icacls \$store \/inheritance:r/);
  assert.doesNotMatch(script, /wirelane-service\.exe|winsw/i);
});
