/**
 * Attack: a tunnel named after an existing persistent TUN device (made with `ip tuntap add`,
 * say by another program or user) used to attach to it, carry its traffic, and delete it at
 * disconnect. With IFF_TUN_EXCL the open is refused with a clear error and the device is left
 * exactly as it was. Runs in a network namespace of its own (the engine is a child process there).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { repoPath } from '../support/paths.js';

const NS = 'hdn-tunexcl';
const DEV = 'hdnexcl0';

after(() => {
  spawnSync('ip', ['netns', 'del', NS]);
});

function ip(...args: string[]) {
  const result = spawnSync('ip', ['netns', 'exec', NS, 'ip', ...args], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

test('attack: a tunnel named after an existing persistent TUN is refused, and the device is left intact', () => {
  spawnSync('ip', ['netns', 'del', NS]);
  assert.equal(spawnSync('ip', ['netns', 'add', NS]).status, 0);
  ip('tuntap', 'add', 'dev', DEV, 'mode', 'tun');
  ip('link', 'set', 'dev', DEV, 'mtu', '1300');
  const before = ip('-d', 'link', 'show', 'dev', DEV);
  assert.match(before, /tun type tun pi off vnet_hdr off .*persist on/);

  const script = `
    import { openLinuxTun } from ${JSON.stringify(repoPath('dist', 'engine', 'tun', 'tun-linux.js'))};
    try { openLinuxTun(${JSON.stringify(DEV)}, 1420); console.log('ATTACHED'); }
    catch (error) { console.log(JSON.stringify({ code: error.code, message: error.message })); }
  `;
  const child = spawnSync('ip', ['netns', 'exec', NS, process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(child.status, 0, child.stderr);
  assert.doesNotMatch(child.stdout, /ATTACHED/);
  const refusal = JSON.parse(child.stdout.trim()) as { code: string; message: string };
  assert.equal(refusal.code, 'EEXIST');
  assert.match(refusal.message, /an interface named hdnexcl0 exists already; Wirelane only uses interfaces it creates/);

  // The device is as it was: still there, still persistent, its MTU untouched.
  assert.equal(ip('-d', 'link', 'show', 'dev', DEV), before);

  // A name nobody uses still works (the flag refuses only what exists).
  const fresh = spawnSync('ip', ['netns', 'exec', NS, process.execPath, '--input-type=module', '-e', script.replaceAll(DEV, 'hdnexcl1')], { encoding: 'utf8', timeout: 30_000 });
  assert.match(fresh.stdout, /ATTACHED/);
});
