/**
 * The deb's scripts and the systemd unit agree with where electron-builder's deb actually puts
 * the app: /opt/<sanitized productName>/<executableName>, computed here with electron-builder's
 * own code, and resources/service/ as electron-builder.yml's extraResources says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parse } from 'yaml';
import { repoPath } from '../support/paths.js';

const require = createRequire(import.meta.url);
const { installPrefix } = require('app-builder-lib/out/targets/LinuxTargetHelper.js') as { installPrefix: string };
const { sanitizeFileName } = require('builder-util/out/filename.js') as { sanitizeFileName: (name: string) => string };

/** The parts of electron-builder.yml this test reads. */
interface BuilderConfig {
  productName: string;
  files: string[];
  extraResources: { from: string; to: string }[];
  linux: { executableName: string };
  deb: { afterInstall: string };
}

const config = parse(readFileSync(repoPath('electron-builder.yml'), 'utf8')) as BuilderConfig;
const installDir = `${installPrefix}/${sanitizeFileName(config['productName'])}`;
const executable = `${installDir}/${config['linux'].executableName}`;
const afterInstall = readFileSync(repoPath(config['deb'].afterInstall), 'utf8');
const unit = readFileSync(repoPath('packaging', 'service', 'wirelane-helper.service'), 'utf8');

/** Every /opt/… path a file mentions, outside comments. */
function optPaths(text: string): string[] {
  const code = text.split('\n').filter((line) => !/^\s*#/.test(line)).join('\n');
  return [...code.matchAll(/\/opt\/[^\s'"]+/g)].map((m) => m[0]);
}

test('electron-builder installs the deb to /opt/Wirelane', () => {
  assert.equal(installDir, '/opt/Wirelane');
});

test('the postinst installs the unit from where extraResources puts it, and links the real executable', () => {
  const serviceResource = config['extraResources'].find((r) => r.from === 'packaging/service');
  assert.ok(serviceResource);
  assert.ok(afterInstall.includes(`UNIT_SRC="${installDir}/resources/${serviceResource.to}/wirelane-helper.service"`));
  assert.ok(afterInstall.includes(`ln -sf '${executable}'`));
  for (const path of optPaths(afterInstall)) assert.ok(path.startsWith(`${installDir}/`), path);
});

test('the unit runs the helper with the installed app’s Electron as Node, from inside app.asar', () => {
  const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.split(/\s+/) ?? [];
  assert.equal(execStart[0], executable);
  assert.equal(execStart[1], `${installDir}/resources/app.asar/engine/bin/wirelane-helper`);
  assert.deepEqual(execStart.slice(2), ['--socket', '/run/wirelane/helper.sock', '--store', '/var/lib/wirelane']);
  assert.match(unit, /^Environment=ELECTRON_RUN_AS_NODE=1$/m);
  // The helper's entry is packaged: engine/bin is in the app's files.
  assert.ok(config['files'].includes('engine/bin/**'));
  for (const path of optPaths(unit)) assert.ok(path.startsWith(`${installDir}/`), path);
});
