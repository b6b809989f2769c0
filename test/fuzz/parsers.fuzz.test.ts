/**
 * Fuzzes the three parsers that read untrusted text: the wg-quick .conf parser (imported files),
 * the UAPI set=1 parser (anything that can open the socket) and the helper's control messages
 * (newline-delimited JSON from any member of the wirelane group: the line framer, then
 * parseRequest). 100,000 generated inputs each per run (times FUZZ_SCALE), from a seeded PRNG
 * (so a failure reproduces): random bytes, and valid inputs mutated by truncation, bit flips,
 * repeated and swapped lines, huge numbers and unicode; control messages also mutated as JSON
 * (a field dropped, retyped, renamed or set to an edge value).
 *
 * Properties: the parsers never throw; a failure is a value with line numbers inside the file
 * (conf), a known errno and a message (UAPI), or a known error code with a bounded message
 * (control); a .conf that parses survives serialise -> parse; an accepted control message is
 * exactly a valid request (it re-validates unchanged); the framer gives back every line it was
 * fed, however the stream is cut, and one null per overlong line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { repoPath } from '../support/paths.js';
import { parseConf } from '../../engine/conf/parse.js';
import { serialiseConf } from '../../engine/conf/serialise.js';
import { parseUapiSet } from '../../engine/uapi/protocol.js';
import { UAPI_EINVAL, UAPI_EPROTO } from '../../engine/uapi/types.js';
import { LineFramer, parseRequest } from '../../engine/helper/server.js';
import { errorCodeSchema, requestSchema, requestTypes } from '../../engine/helper/protocol.js';
import { FUZZ_SCALE, fuzzSeed } from './fuzz-scale.js';

const PER_PARSER = 100_000 * FUZZ_SCALE;
/** Random inputs per parser; the rest are mutations of valid ones. */
const RANDOM_SHARE = 0.2;

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

const seed = fuzzSeed('parsers.fuzz');

test(`conf parser: ${PER_PARSER} random and mutated files`, () => {
  const r = prng(seed ^ 0xc0f);
  const random = PER_PARSER * RANDOM_SHARE;
  for (let i = 0; i < random; i++) checkConf(randomBytesText(r));
  for (let i = random; i < PER_PARSER; i++) checkConf(mutateMany(r, pick(r, confSeeds)));
});

test(`UAPI set parser: ${PER_PARSER} random and mutated requests`, () => {
  const r = prng(seed ^ 0x0a91);
  const random = PER_PARSER * RANDOM_SHARE;
  for (let i = 0; i < random; i++) checkUapi(randomBytesText(r));
  for (let i = random; i < PER_PARSER; i++) checkUapi(mutateMany(r, pick(r, uapiSeeds)));
});

// ---------------------------------------------------------------------------------------------
// Control messages

const KEY = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
const controlSeeds: Array<Record<string, unknown>> = [
  { id: 1, type: 'list' },
  { id: 2, type: 'get', name: 'office' },
  { id: 3, type: 'import', name: 'wg0', confText: confSeeds[0] },
  { id: 4, type: 'update', name: 'wg0', confText: `[Interface]\nPrivateKey = (hidden)\n\n[Peer]\nPublicKey = ${KEY}\nAllowedIPs = 0.0.0.0/0\n` },
  { id: 5, type: 'rename', name: 'wg0', newName: 'home.1' },
  { id: 6, type: 'delete', name: 'wg0' },
  { id: 7, type: 'connect', name: 'office' },
  { id: 8, type: 'disconnect', name: 'office' },
  { id: 9, type: 'status' },
  { id: 10, type: 'status', name: 'office' },
  { id: 11, type: 'subscribe', logs: true, logsOf: 'office' },
  { id: 12, type: 'unsubscribe' },
  { id: 13, type: 'logs', name: 'office', limit: 100 },
  { id: 14, type: 'generateKeypair' },
  { id: 15, type: 'export', name: 'office' },
  { id: 16, type: 'version' },
  { id: 17, type: 'show', name: 'office' },
  { id: 18, type: 'validate', confText: confSeeds[1], name: 'office' },
];
for (const message of controlSeeds) assert.ok(parseRequest(Buffer.from(JSON.stringify(message))).ok, `seed ${JSON.stringify(message).slice(0, 80)} is valid`);

const EDGE_VALUES: unknown[] = [
  null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 53), 1e308, '', ' ', '.', '..', 'a'.repeat(16), 'wg0\n', 'wg0\u0000', '../etc',
  '\u00a0', '\u{1F510}', [], {}, [1, 2], { name: 'x' }, 'list', '__proto__', 'constructor', '(hidden)', KEY,
];
const EDGE_KEYS = ['id', 'type', 'name', 'newName', 'confText', 'logs', 'logsOf', 'limit', '__proto__', 'constructor', 'prototype', '', 'x'.repeat(200), '\u0000'];

/** One JSON-level mutation of a request object. */
function mutateMessage(r: Random, message: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...message };
  const keys = Object.keys(out);
  switch (int(r, 6)) {
    case 0:
      delete out[pick(r, keys)];
      break;
    case 1:
      out[pick(r, keys)] = pick(r, EDGE_VALUES);
      break;
    case 2:
      out[pick(r, EDGE_KEYS)] = pick(r, EDGE_VALUES);
      break;
    case 3:
      out['type'] = pick(r, [...requestTypes, 'List', 'hasOwnProperty', 'toString', '']);
      break;
    case 4: {
      const key = pick(r, keys);
      const value = out[key];
      if (typeof value === 'string') out[key] = mutateMany(r, value);
      break;
    }
    default:
      out['id'] = pick(r, EDGE_VALUES);
  }
  return out;
}

const errorCodes = new Set<string>(errorCodeSchema.options);

function checkControl(line: Buffer): void {
  let outcome;
  try {
    outcome = parseRequest(line);
  } catch (error) {
    assert.fail(`parseRequest threw ${(error as Error).stack} on ${JSON.stringify(line.toString('utf8').slice(0, 500))}`);
  }
  if (outcome.ok) {
    // Accepted means valid: the request re-validates to itself (nothing unknown was let through).
    // (Compared as JSON: an id of -0 is accepted and goes back as 0.)
    const asSent = JSON.parse(JSON.stringify(outcome.request)) as unknown;
    const again = requestSchema.safeParse(asSent);
    assert.ok(again.success, `accepted request does not re-validate: ${line.toString('utf8').slice(0, 300)}`);
    assert.deepEqual(again.data, asSent);
    return;
  }
  assert.ok(errorCodes.has(outcome.error.code), `error code ${outcome.error.code}`);
  assert.ok(outcome.id === null || (Number.isSafeInteger(outcome.id) && outcome.id >= 0), `reply id ${String(outcome.id)}`);
  assert.ok(outcome.error.message.length > 0 && outcome.error.message.length <= 1000, `an error message of ${outcome.error.message.length} characters`);
}

test(`control messages: ${PER_PARSER} random and mutated lines through the framer and parseRequest`, () => {
  const r = prng(seed ^ 0xc7e1);
  const random = PER_PARSER * RANDOM_SHARE;
  const lines: Buffer[] = [];
  for (let i = 0; i < PER_PARSER; i++) {
    let text: string;
    if (i < random) text = randomBytesText(r);
    else {
      let message = pick(r, controlSeeds);
      for (let m = 1 + int(r, 3); m > 0; m--) message = mutateMessage(r, message);
      text = JSON.stringify(message);
      if (r() < 0.3) text = mutate(r, text); // and sometimes the JSON text itself
    }
    const line = Buffer.from(text.replace(/\n/g, ' '), 'utf8');
    checkControl(line);
    lines.push(line);
    if (lines.length === 1000) {
      checkFramer(r, lines);
      lines.length = 0;
    }
  }
});

/** The framer gives back exactly the lines of a stream, however it is cut; overlong ones as one null each. */
function checkFramer(r: Random, lines: Buffer[]): void {
  const max = 64 + int(r, 600);
  const framer = new LineFramer(max);
  const stream = Buffer.concat(lines.flatMap((line) => [line, Buffer.from('\n')]));
  const out: Array<Buffer | null> = [];
  for (let at = 0; at < stream.length; ) {
    const cut = Math.min(stream.length, at + 1 + int(r, r() < 0.5 ? 16 : 2000));
    out.push(...framer.push(stream.subarray(at, cut)));
    at = cut;
  }
  const expected = lines.map((line) => (line.length + 1 > max ? null : line));
  assert.equal(out.length, expected.length, 'one output per line');
  out.forEach((line, i) => {
    const want = expected[i]!;
    if (want === null) assert.equal(line, null, `line ${i} (${lines[i]!.length} bytes, max ${max}) is overlong`);
    else assert.ok(line !== null && line.equals(want), `line ${i} comes back as it was sent`);
  });
}
