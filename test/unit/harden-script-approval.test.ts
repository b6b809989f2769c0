/**
 * Scripts approved per tunnel (issue 10, item 7), as the attack they stop: a member of the
 * wirelane group may import and edit tunnels, so before, once an administrator had enabled
 * scripts for one tunnel, any member became root by importing a file with PostUp. Now only
 * root's approval of a tunnel's exact scripts lets them run. A helper with the real engine
 * launcher (a fake OS and an in-memory TUN) runs the hooks for real; a marker file the PostUp
 * touches is what "ran" means. The member is a real process of uid 65534.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBind, MemoryNetwork } from '../../engine/conn/memory-bind.js';
import { nobleBackend } from '../../engine/crypto/index.js';
import { HelperClient, HelperRequestError } from '../../engine/helper/client.js';
import { startHelper, type RunningHelper } from '../../engine/helper/helper.js';
import { silentLogger } from '../../engine/logger.js';
import type { AppliedTunnel, OsConfigurator, OsTunnelPlan } from '../../engine/os/types.js';
import { MemoryTun } from '../../engine/tun/memory-tun.js';
import { repoPath } from '../support/paths.js';

const NOBODY = 65534;
const canSwitchUser = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
const PEER1 = readFileSync(repoPath('test', 'fixtures', 'conf', 'peer1.conf'), 'utf8');

/** An OS layer that accepts every plan and changes nothing. */
const acceptingOs: OsConfigurator = {
  platform: 'linux',
  probe: async () => ({}),
  plan: (input, facts): OsTunnelPlan => ({
    platform: 'linux', interfaceName: input.interfaceName, ownsInterface: true, addresses: input.addresses, mtu: input.mtu ?? 1420,
    routes: [], rules: [], endpointRoutes: [], dns: null, fwmark: null, srcValidMark: false, facts,
  }),
  steps: () => [],
  apply: async (plan): Promise<AppliedTunnel> => ({ plan, journalPath: '/nonexistent/journal' }),
  revert: async () => ({ journals: [], undone: [], failures: [] }),
  recover: async () => ({ journals: [], undone: [], failures: [] }),
};

const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

interface Setup {
  socket: string;
  work: string;
  helper: RunningHelper;
  root: HelperClient;
}

async function setup(): Promise<Setup> {
  const work = mkdtempSync(join(tmpdir(), 'wirelane-scripts-'));
  chmodSync(work, 0o755);
  cleanup.push(() => rmSync(work, { recursive: true, force: true }));
  mkdirSync(join(work, 'run'), { mode: 0o755 });
  writeFileSync(join(work, 'group'), `root:x:0:\nwirelane:x:${NOBODY}:\n`);
  const network = new MemoryNetwork();
  let binds = 0;
  const socket = join(work, 'run', 'helper.sock');
  const helper = await startHelper({
    socketPath: socket,
    storeDir: join(work, 'store'),
    logger: silentLogger,
    crypto: nobleBackend,
    os: acceptingOs,
    openTun: (name, mtu) => new MemoryTun(name, mtu),
    createBind: () => new MemoryBind(network, `192.0.2.${100 + binds++}`),
    watchNetwork: false,
    groupFile: join(work, 'group'),
  });
  cleanup.push(() => helper.stop());
  const root = await HelperClient.connect(socket);
  cleanup.push(() => root.close());
  return { socket, work, helper, root };
}

/** PEER1 with one PostUp that touches `marker` (with %i in its name). */
function withPostUp(marker: string): string {
  return PEER1.replace('[Peer]', `PostUp = touch ${marker}-%i\n\n[Peer]`);
}

/**
 * Sends `requests` as uid 65534 (a member: its gid is the group's), one connection, one after
 * another (each once the previous one is answered), and returns the replies in order.
 */
async function asMember(socket: string, requests: object[]): Promise<Array<{ ok: boolean; error?: { code: string; message: string }; result?: unknown }>> {
  const script = `
const s = require('node:net').connect(process.argv[1]);
const requests = JSON.parse(process.argv[2]);
let got = '', replies = [];
const next = () => { if (replies.length < requests.length) s.write(JSON.stringify(requests[replies.length]) + '\\n'); else { console.log(JSON.stringify(replies.map((l) => JSON.parse(l)))); process.exit(0); } };
s.on('connect', next);
s.on('data', (d) => { got += d; const lines = got.split('\\n'); got = lines.pop(); for (const line of lines) { replies.push(line); next(); } });
s.on('error', (e) => { console.log(JSON.stringify([{ ok: false, error: { code: e.code, message: e.message } }])); process.exit(1); });
setTimeout(() => { console.log('[]'); process.exit(1); }, 20000);`;
  const child = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '-e', script, socket, JSON.stringify(requests)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: '/',
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => void (out += chunk.toString('utf8')));
  await new Promise((resolve) => child.on('close', resolve));
  return JSON.parse(out.trim() || '[]') as Array<{ ok: boolean; error?: { code: string; message: string }; result?: unknown }>;
}

async function connectAndDisconnect(client: HelperClient, name: string): Promise<void> {
  await client.request('connect', { name });
  await client.request('disconnect', { name });
}

test('attack: a member imports a tunnel with PostUp and connects it: nothing runs; the list says the scripts wait for approval and how to give it', { skip: !canSwitchUser && 'needs root and setpriv' }, async () => {
  const { socket, work, root } = await setup();
  const marker = join(work, 'pwned');
  const replies = await asMember(socket, [
    { id: 1, type: 'import', name: 'hd-evil', confText: withPostUp(marker) },
    { id: 2, type: 'connect', name: 'hd-evil' },
    { id: 3, type: 'disconnect', name: 'hd-evil' },
  ]);
  assert.deepEqual(replies.map((r) => r.ok), [true, true, true], JSON.stringify(replies));
  assert.equal(existsSync(`${marker}-hd-evil`), false, 'the member\'s PostUp ran as root');
  const { tunnels } = await root.request('list', {});
  assert.deepEqual(tunnels.find((t) => t.name === 'hd-evil')?.scripts, { present: true, approved: false, approveCommand: 'sudo wirelane scripts allow hd-evil' });
});

test('attack: a member approves scripts (its own or root\'s tunnel): forbidden, and still nothing runs', { skip: !canSwitchUser && 'needs root and setpriv' }, async () => {
  const { socket, work, root } = await setup();
  const marker = join(work, 'pwned');
  await root.request('import', { name: 'hd-office', confText: withPostUp(marker) });
  const replies = await asMember(socket, [
    { id: 1, type: 'setScriptsApproval', name: 'hd-office', approved: true },
    { id: 2, type: 'connect', name: 'hd-office' },
    { id: 3, type: 'disconnect', name: 'hd-office' },
    { id: 4, type: 'setScriptsApproval', name: 'hd-office', approved: false },
  ]);
  assert.equal(replies[0]?.error?.code, 'forbidden', JSON.stringify(replies));
  assert.match(replies[0].error.message, /only root may approve a tunnel's scripts: run 'sudo wirelane scripts allow hd-office'/);
  assert.equal(replies[3]?.error?.code, 'forbidden', 'withdrawing is root\'s too');
  assert.equal(existsSync(`${marker}-hd-office`), false);
  assert.equal((await root.request('list', {})).tunnels[0]?.scripts?.approved, false);
});

test('root approves: the PostUp runs at the next connect (whoever connects); an edit voids the approval and the edited PostUp never runs', { skip: !canSwitchUser && 'needs root and setpriv' }, async () => {
  const { socket, work, root, helper } = await setup();
  const marker = join(work, 'ran');
  await root.request('import', { name: 'hd-office', confText: withPostUp(marker) });
  await connectAndDisconnect(root, 'hd-office');
  assert.equal(existsSync(`${marker}-hd-office`), false, 'not before approval');

  const { tunnel } = await root.request('setScriptsApproval', { name: 'hd-office', approved: true });
  assert.deepEqual(tunnel.scripts, { present: true, approved: true, approveCommand: 'sudo wirelane scripts allow hd-office' });
  assert.match(helper.store.meta('hd-office').scriptsApproval?.sha256 ?? '', /^[0-9a-f]{64}$/, 'the approval is a SHA-256 in the tunnel\'s metadata');
  const member = await asMember(socket, [
    { id: 1, type: 'connect', name: 'hd-office' },
    { id: 2, type: 'disconnect', name: 'hd-office' },
  ]);
  assert.deepEqual(member.map((r) => r.ok), [true, true]);
  assert.equal(existsSync(`${marker}-hd-office`), true, 'the approved PostUp ran');

  // A member edits the PostUp (what an attacker would do with an approved tunnel).
  const edited = join(work, 'edited');
  const update = await asMember(socket, [{ id: 1, type: 'update', name: 'hd-office', confText: withPostUp(edited) }]);
  assert.equal(update[0]?.ok, true, JSON.stringify(update));
  assert.equal(helper.store.meta('hd-office').scriptsApproval, undefined, 'the edit dropped the approval');
  assert.equal((await root.request('list', {})).tunnels[0]?.scripts?.approved, false);
  await connectAndDisconnect(root, 'hd-office');
  assert.equal(existsSync(`${edited}-hd-office`), false, 'the edited PostUp ran on the old approval');

  // Editing back to the approved text does not bring the approval back either; root approves again.
  await root.request('update', { name: 'hd-office', confText: withPostUp(marker) });
  assert.equal((await root.request('list', {})).tunnels[0]?.scripts?.approved, false);
  rmSync(`${marker}-hd-office`);
  await connectAndDisconnect(root, 'hd-office');
  assert.equal(existsSync(`${marker}-hd-office`), false);

  // Withdrawn: the next connect runs nothing.
  await root.request('setScriptsApproval', { name: 'hd-office', approved: true });
  await root.request('setScriptsApproval', { name: 'hd-office', approved: false });
  await connectAndDisconnect(root, 'hd-office');
  assert.equal(existsSync(`${marker}-hd-office`), false);
});

test('approving a tunnel without scripts is refused; a tunnel without scripts lists scripts: null', { skip: !canSwitchUser && 'needs root and setpriv' }, async () => {
  const { root } = await setup();
  await root.request('import', { name: 'hd-plain', confText: PEER1 });
  assert.equal((await root.request('list', {})).tunnels[0]?.scripts, null);
  await assert.rejects(root.request('setScriptsApproval', { name: 'hd-plain', approved: true }), (err: unknown) => {
    assert.ok(err instanceof HelperRequestError);
    assert.equal(err.error.code, 'bad_request');
    assert.match(err.message, /has no PreUp, PostUp, PreDown or PostDown to approve/);
    return true;
  });
  await assert.rejects(root.request('setScriptsApproval', { name: 'hd-nosuch', approved: true }), /no tunnel named 'hd-nosuch'/);
});
