/**
 * An MTU a tunnel can never connect with is refused at import, with its line (issue 10, item 6):
 * before, MTU = 68 imported and then failed at every connect. Below 576 (IPv4's minimum, and the
 * OS layer's lower bound), or below 1280 on a tunnel with an IPv6 address (Linux disables IPv6 on
 * such a link, so the address could never be added). The parser and the OS layer accept the same
 * values. Through a helper as a user meets it: the import request and `wirelane import`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWirelane, type CliIo } from '../../engine/cli/wirelane.js';
import { parseConf } from '../../engine/conf/parse.js';
import { nobleBackend } from '../../engine/crypto/index.js';
import { HelperClient, HelperRequestError } from '../../engine/helper/client.js';
import { startHelper } from '../../engine/helper/helper.js';
import { silentLogger } from '../../engine/logger.js';
import { checkMtu } from '../../engine/os/address.js';
import type { RunningTunnel, TunnelLauncher } from '../../engine/helper/tunnel-manager.js';
import { repoPath } from '../support/paths.js';
import { noOs } from '../support/helper-fakes.js';

const PEER1 = readFileSync(repoPath('test', 'fixtures', 'conf', 'peer1.conf'), 'utf8');
/** PEER1 with `lines` after its Address line (line 5), so the first of them is line 6. */
const withLines = (...lines: string[]) => PEER1.replace('Address = 10.0.0.1\n', `Address = 10.0.0.1\n${lines.map((l) => `${l}\n`).join('')}`);

const noLauncher: TunnelLauncher = {
  up(): Promise<RunningTunnel> {
    return Promise.reject(new Error('not used'));
  },
};

const work = mkdtempSync(join(tmpdir(), 'wirelane-mtu-'));
chmodSync(work, 0o755);
const socket = join(work, 'run', 'helper.sock');
const helperReady = startHelper({
  socketPath: socket,
  storeDir: join(work, 'store'),
  logger: silentLogger,
  crypto: nobleBackend,
  os: noOs,
  openTun: () => {
    throw new Error('not used');
  },
  createBind: () => {
    throw new Error('not used');
  },
  launcher: noLauncher,
  watchNetwork: false,
  groupFile: join(work, 'no-group-file'),
});
after(async () => {
  await (await helperReady).stop();
  rmSync(work, { recursive: true, force: true });
});

async function refusal(request: Promise<unknown>): Promise<HelperRequestError> {
  try {
    await request;
  } catch (err) {
    assert.ok(err instanceof HelperRequestError, String(err));
    return err;
  }
  assert.fail('accepted');
}

test('import: MTU = 68 is refused with its line; nothing is stored', async () => {
  const helper = await helperReady;
  const client = await HelperClient.connect(socket);
  try {
    const err = await refusal(client.request('import', { name: 'hd-tiny', confText: withLines('MTU = 68') }));
    assert.equal(err.error.code, 'invalid_config');
    assert.deepEqual(err.error.problems, [{ line: 6, message: "MTU: '68' is not a valid MTU (576 to 65535)" }]);
    assert.equal(helper.store.has('hd-tiny'), false);
  } finally {
    client.close();
  }
});

test('import: MTU = 1000 with an IPv6 address is refused on the MTU line, naming the address; without one it imports', async () => {
  const client = await HelperClient.connect(socket);
  try {
    const err = await refusal(client.request('import', { name: 'hd-v6', confText: withLines('Address = fd00::1/128', 'MTU = 1000') }));
    assert.equal(err.error.code, 'invalid_config');
    assert.equal(err.error.problems?.length, 1);
    assert.equal(err.error.problems?.[0]?.line, 7);
    assert.match(err.error.problems[0].message, /^MTU: 1000 is below 1280, the least IPv6 needs, and this tunnel has the IPv6 address fd00::1\/128; use MTU = 1280 or more$/);
    const ok = await client.request('import', { name: 'hd-v4', confText: withLines('MTU = 1000') });
    assert.equal(ok.name, 'hd-v4');
    // And an update to an MTU that cannot work is refused the same way; the stored text stays.
    const before = (await client.request('export', { name: 'hd-v4' })).confText;
    const update = await refusal(client.request('update', { name: 'hd-v4', confText: withLines('MTU = 575') }));
    assert.equal(update.error.problems?.[0]?.line, 6);
    assert.equal((await client.request('export', { name: 'hd-v4' })).confText, before);
  } finally {
    client.close();
  }
});

test('`wirelane import` prints the refusal as a user reads it: the line, the key and the range', async () => {
  await helperReady;
  const file = join(work, 'hd-cli.conf');
  writeFileSync(file, withLines('MTU = 68'), { mode: 0o600 });
  const io: CliIo & { err: string } = { err: '', stdout() {}, stderr(text) { io.err += text; }, readStdin: async () => '', now: () => Date.now() };
  assert.equal(await runWirelane(['--socket', socket, 'import', file], io), 1);
  assert.equal(io.err, "line 6: MTU: '68' is not a valid MTU (576 to 65535)\n");
});

test('the parser and the OS layer accept the same MTUs', () => {
  for (const mtu of [0, 68, 575, 576, 577, 1279, 1280, 1420, 9000, 65535, 65536]) {
    const parsed = parseConf(withLines(`MTU = ${mtu}`)).ok;
    let osAccepts = true;
    try {
      checkMtu(mtu);
    } catch {
      osAccepts = false;
    }
    assert.equal(parsed, osAccepts, `MTU ${mtu}: parser ${parsed ? 'accepts' : 'refuses'}, OS layer ${osAccepts ? 'accepts' : 'refuses'}`);
  }
});
