/**
 * The macOS first-run install of the helper: the exact commands, and that every path reaches
 * them as one intact argument through both quotings (AppleScript string, then sh), however hostile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../support/paths.js';
import { appBundleOf, installCommand, installScript, installWasCancelled } from '../../main/helper-install-darwin.js';

test('the install copies the app to a root-owned place and bootstraps the daemon, as the plist says', () => {
  assert.equal(
    installScript('/Applications/Wirelane.app'),
    [
      'set -e',
      "mkdir -p /Library/PrivilegedHelperTools '/Library/Logs/Wirelane'",
      "rm -rf '/Library/PrivilegedHelperTools/Wirelane.app'",
      "ditto '/Applications/Wirelane.app' '/Library/PrivilegedHelperTools/Wirelane.app'",
      "chown -R root:wheel '/Library/PrivilegedHelperTools/Wirelane.app'",
      "chmod -R go-w '/Library/PrivilegedHelperTools/Wirelane.app'",
      "cp '/Library/PrivilegedHelperTools/Wirelane.app/Contents/Resources/service/com.wirelane.helper.plist' '/Library/LaunchDaemons/com.wirelane.helper.plist'",
      "chown root:wheel '/Library/LaunchDaemons/com.wirelane.helper.plist'",
      "chmod 644 '/Library/LaunchDaemons/com.wirelane.helper.plist'",
      'launchctl bootout system/com.wirelane.helper 2>/dev/null || true',
      "launchctl bootstrap system '/Library/LaunchDaemons/com.wirelane.helper.plist'",
    ].join('\n'),
  );
  const command = installCommand('/Applications/Wirelane.app');
  assert.equal(command.file, '/usr/bin/osascript');
  assert.equal(command.args.length, 2);
  assert.equal(command.args[0], '-e');
  assert.match(command.args[1]!, /^do shell script ".*" with administrator privileges$/s);
  assert.equal(appBundleOf('/Applications/Wirelane.app/Contents/MacOS/Wirelane'), '/Applications/Wirelane.app');
});

test('the plist runs the root-owned copy that the install makes', () => {
  const plist = readFileSync(repoPath('packaging', 'service', 'com.wirelane.helper.plist'), 'utf8');
  assert.ok(plist.includes('<string>/Library/PrivilegedHelperTools/Wirelane.app/Contents/MacOS/Wirelane</string>'));
  assert.ok(plist.includes('<string>/Library/PrivilegedHelperTools/Wirelane.app/Contents/Resources/app.asar/engine/bin/wirelane-helper</string>'));
  assert.match(plist, /<key>ELECTRON_RUN_AS_NODE<\/key>\s*<string>1<\/string>/);
});

/** Reads an AppleScript string literal back, as AppleScript would. */
function appleScriptLiteral(source: string): string {
  const match = /^do shell script "((?:[^"\\]|\\.)*)" with administrator privileges$/s.exec(source);
  assert.ok(match, 'one AppleScript string literal');
  return match[1]!.replace(/\\(.)/gs, '$1');
}

test('a hostile app path arrives as one intact argument (quotes, $(…), backslashes, newlines)', () => {
  const work = mkdtempSync(join(tmpdir(), 'wirelane-darwin-install-'));
  try {
    const hostile = `/Users/o'brien/My "Apps"/$(touch ${work}/pwned) \`id\` \\x\nnext/Wirelane.app`;
    const script = appleScriptLiteral(installCommand(hostile).args[1]!);
    assert.equal(script, installScript(hostile));
    // Run it with every command replaced by one that records its arguments.
    const bin = join(work, 'bin');
    spawnSync('mkdir', [bin]);
    const log = join(work, 'calls');
    for (const name of ['mkdir', 'rm', 'ditto', 'chown', 'chmod', 'cp', 'launchctl']) {
      writeFileSync(join(bin, name), `#!/bin/sh\nprintf '%s' "${name}" >> '${log}'\nfor a in "$@"; do printf '\\037%s' "$a" >> '${log}'; done\nprintf '\\036' >> '${log}'\n`);
      chmodSync(join(bin, name), 0o755);
    }
    const ran = spawnSync('/bin/sh', ['-c', script], { env: { PATH: bin }, encoding: 'utf8' });
    assert.equal(ran.status, 0, ran.stderr);
    const calls = readFileSync(log, 'utf8').split('\x1e').filter(Boolean).map((call) => call.split('\x1f'));
    assert.deepEqual(calls.find((c) => c[0] === 'ditto'), ['ditto', hostile, '/Library/PrivilegedHelperTools/Wirelane.app']);
    assert.deepEqual(calls.map((c) => c[0]), ['mkdir', 'rm', 'ditto', 'chown', 'chmod', 'cp', 'chown', 'chmod', 'launchctl', 'launchctl']);
    assert.deepEqual(calls.at(-1), ['launchctl', 'bootstrap', 'system', '/Library/LaunchDaemons/com.wirelane.helper.plist']);
    assert.equal(spawnSync('test', ['-e', join(work, 'pwned')]).status, 1, 'nothing in the path was run');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('a cancelled password prompt is told apart from a failed install', () => {
  assert.equal(installWasCancelled('0:143: execution error: User canceled. (-128)\n'), true);
  assert.equal(installWasCancelled('0:143: execution error: launchctl: Bootstrap failed: 5: Input/output error (1)\n'), false);
});
