/**
 * Fuzzes the two parsers that read untrusted text: the wg-quick .conf parser (imported files)
 * and the UAPI set=1 parser (anything that can open the socket). Over 100,000 generated inputs
 * from a seeded PRNG (so a failure reproduces): random bytes, and valid inputs mutated by
 * truncation, bit flips, repeated and swapped lines, huge numbers and unicode.
 *
 * Properties: the parsers never throw; a failure is a value with line numbers inside the file
 * (conf) or a known errno and a message (UAPI); a .conf that parses survives serialise -> parse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { repoPath } from '../support/paths.js';
import { parseConf } from '../../engine/conf/parse.js';
import { serialiseConf } from '../../engine/conf/serialise.js';
import { parseUapiSet } from '../../engine/uapi/protocol.js';
import { UAPI_EINVAL, UAPI_EPROTO } from '../../engine/uapi/types.js';

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const int = (r: Random, n: number) => Math.floor(r() * n);
const pick = <T>(r: Random, items: readonly T[]): T => items[int(r, items.length)]!;

const INTERESTING = [
  '0', '-1', '65535', '65536', '4294967295', '4294967296', '99999999999999999999999', '1e9', '0x10', 'NaN',
  '', ' ', '=', '==', '#', '[', ']', '[Peer]', '[Interface]', ',', ',,', '/', '/33', '/-1', ':', '::', '[::]:0',
  '\u00e9', '\u{1F510}', '\u202e', '\ufeff', '\u0000', '\u001b[2J', '\t', '\r', 'true', 'false', 'off',
  '0.0.0.0/0', '::/0', '255.255.255.255', 'ffff::ffff', 'a'.repeat(300), '0'.repeat(64),
];

function randomBytesText(r: Random): string {
  const bytes = new Uint8Array(int(r, 400));
  for (let i = 0; i < bytes.length; i++) bytes[i] = r() < 0.7 ? 0x20 + int(r, 95) : int(r, 256);
  return Buffer.from(bytes).toString(r() < 0.5 ? 'utf8' : 'latin1');
}

/** One random mutation of `text`. */
function mutate(r: Random, text: string): string {
  const lines = text.split('\n');
  switch (int(r, 9)) {
    case 0:
      return text.slice(0, int(r, text.length + 1)); // truncate
    case 1: {
      // flip a bit in one character
      const i = int(r, text.length || 1);
      const code = text.charCodeAt(i) ^ (1 << int(r, 8));
      return text.slice(0, i) + String.fromCharCode(code) + text.slice(i + 1);
    }
    case 2: {
      // repeat a line
      const i = int(r, lines.length);
      lines.splice(i, 0, ...Array.from({ length: 1 + int(r, 3) }, () => lines[i]!));
      return lines.join('\n');
    }
    case 3: {
      // swap two lines
      const a = int(r, lines.length);
      const b = int(r, lines.length);
      [lines[a], lines[b]] = [lines[b]!, lines[a]!];
      return lines.join('\n');
    }
    case 4: {
      // replace every number in a line by a huge or edge one
      const i = int(r, lines.length);
      lines[i] = lines[i]!.replace(/[0-9]+/g, () => pick(r, INTERESTING));
      return lines.join('\n');
    }
    case 5: {
      // insert something interesting somewhere
      const i = int(r, text.length + 1);
      return text.slice(0, i) + pick(r, INTERESTING) + text.slice(i);
    }
    case 6: {
      // drop a line
      lines.splice(int(r, lines.length), 1);
      return lines.join('\n');
    }
    case 7: {
      // replace a value
      const i = int(r, lines.length);
      const eq = lines[i]!.indexOf('=');
      if (eq >= 0) lines[i] = lines[i]!.slice(0, eq + 1) + pick(r, INTERESTING);
      return lines.join('\n');
    }
    default:
      // change case or line endings
      return r() < 0.5 ? text.toUpperCase() : text.replace(/\n/g, '\r\n');
  }
}

function mutateMany(r: Random, text: string): string {
  let out = text;
  const rounds = 1 + int(r, 4);
  for (let i = 0; i < rounds; i++) out = mutate(r, out);
  return out;
}

const confSeeds = readdirSync(repoPath('test', 'fixtures', 'conf'))
  .filter((f) => f.endsWith('.conf'))
  .map((f) => readFileSync(repoPath('test', 'fixtures', 'conf', f), 'utf8'));

const uapiSeeds = [
  readFileSync(repoPath('test', 'fixtures', 'uapi', 'set-request.txt'), 'utf8'),
  `private_key=${'a'.repeat(64)}\nlisten_port=51820\nreplace_peers=true\npublic_key=${'b'.repeat(64)}\nendpoint=[fd00::1]:51820\nallowed_ip=10.0.0.0/8\nallowed_ip=fd00::/8\n\n`,
  `public_key=${'c'.repeat(64)}\nremove=true\n\n`,
];

function checkConf(text: string): void {
  let result;
  try {
    result = parseConf(text);
  } catch (error) {
    assert.fail(`parseConf threw ${(error as Error).stack} on ${JSON.stringify(text.slice(0, 500))}`);
  }
  if (result.ok) {
    const again = parseConf(serialiseConf(result.config));
    assert.ok(again.ok, `serialised config does not parse: ${JSON.stringify(text.slice(0, 500))}`);
    assert.deepEqual(again.config, result.config);
    return;
  }
  assert.ok(result.errors.length > 0);
  const lineCount = text.split('\n').length;
  for (const e of result.errors) {
    assert.ok(Number.isInteger(e.line) && e.line >= 1 && e.line <= Math.max(1, lineCount), `line ${e.line} of ${lineCount}`);
    assert.equal(typeof e.key, 'string');
    assert.ok(typeof e.message === 'string' && e.message.length > 0);
  }
}

function checkUapi(text: string): void {
  let result;
  try {
    result = parseUapiSet(text);
  } catch (error) {
    assert.fail(`parseUapiSet threw ${(error as Error).stack} on ${JSON.stringify(text.slice(0, 500))}`);
  }
  if (!result.ok) {
    assert.ok(result.error.errno === UAPI_EINVAL || result.error.errno === UAPI_EPROTO, `errno ${result.error.errno}`);
    assert.ok(result.error.message.length > 0);
  } else {
    for (const peer of result.request.peers) assert.equal(peer.publicKey.length, 32);
  }
}

test('conf parser: 60,000 random and mutated files', () => {
  const r = prng(0xc0f);
  for (let i = 0; i < 10_000; i++) checkConf(randomBytesText(r));
  for (let i = 0; i < 50_000; i++) checkConf(mutateMany(r, pick(r, confSeeds)));
});

test('UAPI set parser: 45,000 random and mutated requests', () => {
  const r = prng(0x0a91);
  for (let i = 0; i < 10_000; i++) checkUapi(randomBytesText(r));
  for (let i = 0; i < 35_000; i++) checkUapi(mutateMany(r, pick(r, uapiSeeds)));
});
