import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parse } from 'yaml';
import { repoPath } from '../support/paths.js';
import { trayModel } from '../../main/tray-model.js';

const require = createRequire(import.meta.url);
// ajv is CommonJS with a default export; under NodeNext its class sits on `.default`.
const Ajv = (require('ajv') as { default: new (options: object) => AjvLike }).default;
interface AjvLike {
  compile(schema: object): ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };
}

/** The parts of electron-builder.yml these tests read; the schema test checks the whole file. */
interface BuilderConfig {
  npmRebuild: boolean;
  buildDependenciesFromSource: boolean;
  mac: { target: { target: string }[]; hardenedRuntime: boolean; entitlements: string; entitlementsInherit: string };
  win: { target: { target: string }[]; extraFiles: unknown };
  linux: { target: string[]; icon: string };
  nsis: { include: string };
  deb: { afterInstall: string; afterRemove: string };
}

const config = parse(readFileSync(repoPath('electron-builder.yml'), 'utf8')) as BuilderConfig;

test("electron-builder.yml is valid against electron-builder's own JSON schema", () => {
  const schema = JSON.parse(readFileSync(repoPath('node_modules', 'app-builder-lib', 'scheme.json'), 'utf8')) as object;
  const ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true });
  const validate = ajv.compile(schema);
  const valid = validate(config);
  assert.ok(valid, (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`).join('\n'));
});

test('the schema check would catch a mistake', () => {
  const schema = JSON.parse(readFileSync(repoPath('node_modules', 'app-builder-lib', 'scheme.json'), 'utf8')) as object;
  const validate = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true }).compile(schema);
  assert.equal(validate({ ...config, mac: { ...config['mac'], hardenedRuntime: 'yes' } }), false);
});

test('targets and the pieces the issue asks for are there', () => {
  assert.deepEqual(config['mac'].target.map((t: { target: string }) => t.target), ['dmg']);
  assert.equal(config['mac'].hardenedRuntime, true);
  assert.deepEqual(config['win'].target.map((t: { target: string }) => t.target), ['nsis']);
  assert.deepEqual(config['linux'].target, ['AppImage', 'deb']);
  assert.equal(config['npmRebuild'], true);
  assert.equal(config['buildDependenciesFromSource'], true);
  assert.match(JSON.stringify(config['win'].extraFiles), /wintun\.dll/);
});

test('every file the config names exists, and every tray icon the tray model can ask for', () => {
  for (const path of [config['mac'].entitlements, config['mac'].entitlementsInherit, config['nsis'].include, config['deb'].afterInstall, config['deb'].afterRemove, config['linux'].icon]) {
    assert.ok(existsSync(repoPath(path)), path);
  }
  const running = { state: 'running', socketPath: '', helperVersion: '', platform: '' } as const;
  for (const platform of ['linux', 'darwin', 'win32'] as const) {
    for (const state of [
      { state: 'disconnected' },
      { state: 'connecting', since: 1 },
      { state: 'connected', since: 0 },
      { state: 'reconnecting', since: 0, unansweredSince: 1 },
      { state: 'failed', reason: 'x' },
    ] as const) {
      const tunnel = { name: 't', publicKey: '', addresses: [], endpoints: [], hasScripts: false, fullTunnel: false, killSwitch: false, status: { name: 't', status: state, latestHandshake: null, rxBytes: 0, txBytes: 0, endpoint: null } };
      const { iconFile } = trayModel({ helper: running, tunnels: [tunnel], launchAtLogin: false, platform });
      assert.ok(existsSync(repoPath('build', 'tray', iconFile)), iconFile);
    }
    const down = trayModel({ helper: { state: 'not_running', socketPath: '', detail: '' }, tunnels: [], launchAtLogin: false, platform });
    assert.ok(existsSync(repoPath('build', 'tray', down.iconFile)), down.iconFile);
  }
});
