/**
 * wirelane [--socket PATH] COMMAND
 *
 *   up FILE|NAME   import FILE under its base name (as wg-quick names the interface), then connect;
 *                  or connect the stored tunnel NAME
 *   down NAME      disconnect
 *   show [NAME]    what `wg show` prints, plus the tunnel's state (all connected tunnels without NAME)
 *   import FILE    store FILE under its base name
 *   list           stored tunnels and their state
 *   delete NAME    remove a stored tunnel
 *   set NAME kill-switch on|off
 *                  enable or disable the tunnel's kill switch (on by default for full tunnels)
 *   scripts allow|deny NAME
 *                  as root only: approve the tunnel's PreUp/PostUp/PreDown/PostDown as they are
 *                  now (an edit voids it), or withdraw the approval
 *   genkey         print a new private key (no helper needed)
 *   pubkey         read a private key on stdin, print its public key (no helper needed)
 *   settings [log-level LEVEL]  print the helper's settings, or change one (debug, info, warn, error)
 *   check FILE     print FILE's problems and warnings, one per line with its line number; exit 1
 *                  when it has problems (errors), 0 otherwise; nothing for a clean file. Asked of
 *                  the helper when it answers (it also compares with the stored tunnels), else
 *                  checked here
 *
 * Exit status 0 on success, 1 when the request failed, 2 for a usage mistake. Errors are one
 * line on stderr that says what to do.
 *
 * Importing this module has no effect; engine/bin/wirelane calls main().
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCryptoBackend } from '../crypto/index.js';
import { keyFromBase64, keyToBase64 } from '../keys.js';
import { HelperClient, HelperRequestError, HelperUnreachableError } from '../helper/client.js';
import { helperDefaults } from '../helper/defaults.js';
import { formatShow, formatState } from '../helper/show-format.js';
import { TUNNEL_NAME_PATTERN, logLevelSchema, type ConfProblem } from '../helper/protocol.js';
import { createConfInspector, formatProblem } from '../helper/conf-info.js';
import { parseConf } from '../conf/parse.js';

/** How long `up` waits for the first handshake before it reports `connecting` (one REKEY_TIMEOUT and a tick). */
const UP_WAIT_FOR_HANDSHAKE_MS = 6500;

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readStdin(): Promise<string>;
  now(): number;
}

const USAGE = `usage: wirelane [--socket PATH] COMMAND
  up FILE|NAME    import FILE (named after the file) and connect, or connect NAME
  down NAME       disconnect NAME
  show [NAME]     show connected tunnels as wg show does, with their state
  import FILE     store FILE as a tunnel named after the file
  list            list stored tunnels
  delete NAME     delete a stored tunnel
  set NAME kill-switch on|off
                  while NAME is on, block traffic outside it (on by default for full tunnels)
  scripts allow|deny NAME
                  (root) let NAME's PreUp/PostUp/PreDown/PostDown run as they are now, or stop them
  genkey          print a new private key
  pubkey          print the public key of the private key read on stdin
  check FILE      print the problems and warnings of FILE, one per line
  settings [log-level debug|info|warn|error]
                  print the helper's settings, or change its log level
`;

/** A failure to report: its one-line message and exit status. */
class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** The tunnel name for FILE: its base name without ".conf", checked as wg-quick checks it. */
export function tunnelNameOfFile(file: string): string {
  const name = basename(file).replace(/\.conf$/, '');
  if (!TUNNEL_NAME_PATTERN.test(name) || name === '.' || name === '..') {
    throw new CliFailure(
      `'${basename(file)}' cannot name a tunnel: rename the file to 1-15 letters, digits or _=+.- followed by .conf (e.g. office.conf)`,
    );
  }
  return name;
}

function looksLikeFile(arg: string): boolean {
  return arg.includes('/') || arg.includes('\\') || arg.endsWith('.conf');
}

function readConfFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliFailure(`cannot read ${file}: no such file`);
    if (code === 'EACCES') throw new CliFailure(`cannot read ${file}: permission denied`);
    throw new CliFailure(`cannot read ${file}: ${(err as Error).message}`);
  }
}

function requireName(command: string, args: string[]): string {
  const name = args[0];
  if (name === undefined || args.length > 1) throw new CliFailure(`usage: wirelane ${command} NAME`, 2);
  return name;
}

export async function runWirelane(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { socket: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    io.stderr(`${(err as Error).message}; see wirelane --help\n`);
    return 2;
  }
  const [command, ...args] = parsed.positionals;
  if (parsed.values.help || command === 'help') {
    io.stdout(USAGE);
    return 0;
  }
  if (command === undefined) {
    io.stderr(USAGE);
    return 2;
  }
  const socketPath = parsed.values.socket ?? helperDefaults().socket;
  let client: HelperClient | null = null;
  const helper = async () => (client ??= await HelperClient.connect(socketPath));
  try {
    await runCommand(command, args, io, helper);
    return 0;
  } catch (err) {
    const message = messageOf(err);
    // A failure already reported on stdout (check's problems) has no message of its own.
    if (message !== '') io.stderr(`${message}\n`);
    return err instanceof CliFailure ? err.exitCode : 1;
  } finally {
    (client as HelperClient | null)?.close();
  }
}

function messageOf(err: unknown): string {
  if (err instanceof HelperRequestError) {
    const problems = err.error.problems;
    if (err.error.code === 'invalid_config' && problems && problems.length > 1) {
      return `${err.message} (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''}; fix the file and try again)`;
    }
    return err.message;
  }
  if (err instanceof HelperUnreachableError || err instanceof CliFailure) return err.message;
  return `unexpected error: ${(err as Error)?.message ?? String(err)}`;
}

async function runCommand(command: string, args: string[], io: CliIo, helper: () => Promise<HelperClient>): Promise<void> {
  switch (command) {
    case 'genkey': {
      if (args.length > 0) throw new CliFailure('usage: wirelane genkey', 2);
      io.stdout(`${keyToBase64(loadCryptoBackend().generatePrivateKey())}\n`);
      return;
    }
    case 'pubkey': {
      if (args.length > 0) throw new CliFailure('usage: wirelane pubkey < private.key', 2);
      const decoded = keyFromBase64((await io.readStdin()).trim());
      if (!decoded.ok) throw new CliFailure(`the private key on stdin is not valid: ${decoded.message}`);
      io.stdout(`${keyToBase64(loadCryptoBackend().publicKey(decoded.key))}\n`);
      return;
    }
    case 'import': {
      const file = args[0];
      if (file === undefined || args.length > 1) throw new CliFailure('usage: wirelane import FILE', 2);
      const name = tunnelNameOfFile(file);
      const text = readConfFile(file);
      const result = await (await helper()).request('import', { name, confText: text });
      io.stdout(`imported '${name}'\n`);
      reportFlags(result, io);
      return;
    }
    case 'up': {
      const target = args[0];
      if (target === undefined || args.length > 1) throw new CliFailure('usage: wirelane up FILE|NAME', 2);
      const client = await helper();
      let name = target;
      if (looksLikeFile(target)) {
        name = tunnelNameOfFile(target);
        const text = readConfFile(target);
        const { tunnels } = await client.request('list', {});
        const stored = tunnels.find((t) => t.name === name);
        if (!stored) {
          reportFlags(await client.request('import', { name, confText: text }), io);
        } else if (['connected', 'connecting', 'reconnecting'].includes(stored.status.status.state)) {
          throw new CliFailure(`tunnel '${name}' is already up; run 'wirelane down ${name}' first`);
        } else {
          const { confText } = await client.request('export', { name });
          if (confText !== text) reportFlags(await client.request('update', { name, confText: text }), io);
        }
      }
      let { status } = await client.request('connect', { name });
      // The helper replies once the tunnel is up and its first handshake is on its way; a
      // reachable server answers within a round trip, so wait a little for the truth.
      const deadline = io.now() + UP_WAIT_FOR_HANDSHAKE_MS;
      while (status.status.state === 'connecting' && io.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        status = (await client.request('status', { name })).tunnels[0] ?? status;
      }
      io.stdout(`tunnel '${name}' is ${formatState(status, io.now())}\n`);
      if (status.status.state === 'connecting') {
        io.stdout(`no answer from its server yet; it keeps trying ('wirelane show ${name}' follows it, 'wirelane down ${name}' stops it)\n`);
      }
      return;
    }
    case 'down': {
      const name = requireName('down', args);
      await (await helper()).request('disconnect', { name });
      io.stdout(`tunnel '${name}' is disconnected\n`);
      return;
    }
    case 'delete': {
      const name = requireName('delete', args);
      await (await helper()).request('delete', { name });
      io.stdout(`deleted '${name}'\n`);
      return;
    }
    case 'list': {
      if (args.length > 0) throw new CliFailure('usage: wirelane list', 2);
      const { tunnels } = await (await helper()).request('list', {});
      for (const t of tunnels) {
        const scripts = t.hasScripts ? (t.scripts?.approved ? 'scripts approved' : 'scripts not approved') : '';
        const flags = [t.fullTunnel ? 'full tunnel' : '', t.killSwitch ? 'kill switch' : '', scripts]
          .filter(Boolean)
          .join(', ');
        io.stdout(`${t.name}\t${formatState(t.status, io.now())}${flags ? `\t(${flags})` : ''}\n`);
      }
      return;
    }
    case 'check': {
      const file = args[0];
      if (file === undefined || args.length > 1) throw new CliFailure('usage: wirelane check FILE', 2);
      const text = readConfFile(file);
      const found = await checkConf(text, file, helper);
      for (const problem of found) io.stdout(`${formatProblem(problem)}\n`);
      if (found.some((p) => p.severity !== 'warning')) throw new CliFailure('', 1);
      return;
    }
    case 'show': {
      if (args.length > 1) throw new CliFailure('usage: wirelane show [NAME]', 2);
      const client = await helper();
      let names: string[];
      if (args[0] !== undefined) {
        names = [args[0]];
      } else {
        const { tunnels } = await client.request('status', {});
        names = tunnels.filter((t) => t.status.state !== 'disconnected').map((t) => t.name);
      }
      const blocks: string[] = [];
      for (const name of names) {
        const { status, device } = await client.request('show', { name });
        blocks.push(formatShow(name, status, device, io.now()));
      }
      io.stdout(blocks.join('\n'));
      return;
    }
    case 'settings': {
      const [setting, value, ...rest] = args;
      const level = logLevelSchema.safeParse(value);
      if (setting !== undefined && (setting !== 'log-level' || !level.success || rest.length > 0)) {
        throw new CliFailure('usage: wirelane settings [log-level debug|info|warn|error]', 2);
      }
      const client = await helper();
      const { settings } = level.success ? await client.request('setSettings', { logLevel: level.data }) : await client.request('getSettings', {});
      io.stdout(`log-level: ${settings.logLevel}\n`);
      return;
    }
    case 'scripts': {
      const [verb, name, ...rest] = args;
      if ((verb !== 'allow' && verb !== 'deny') || name === undefined || rest.length > 0) {
        throw new CliFailure('usage: wirelane scripts allow|deny NAME', 2);
      }
      const { tunnel } = await (await helper()).request('setScriptsApproval', { name, approved: verb === 'allow' });
      io.stdout(
        verb === 'allow'
          ? `the scripts of '${name}' are approved as they are now; they run at its next connect (a change to them needs a new approval)\n`
          : `the scripts of '${name}' are not approved; they will not run${tunnel.hasScripts ? '' : ' (it has none)'}\n`,
      );
      return;
    }
    case 'set': {
      const [name, setting, value, ...rest] = args;
      if (name === undefined || setting !== 'kill-switch' || (value !== 'on' && value !== 'off') || rest.length > 0) {
        throw new CliFailure('usage: wirelane set NAME kill-switch on|off', 2);
      }
      const { tunnel } = await (await helper()).request('setKillSwitch', { name, enabled: value === 'on' });
      const active = tunnel.status.status.state !== 'disconnected';
      io.stdout(
        `kill switch of '${name}' is ${tunnel.killSwitch ? 'on' : 'off'}${active ? (tunnel.killSwitch ? ' and in force' : ' and released') : ''}\n`,
      );
      return;
    }
    default:
      throw new CliFailure(`unknown command '${command.slice(0, 40)}'; see wirelane --help`, 2);
  }
}

/**
 * FILE's problems and warnings in line order. The helper's answer when it answers: it also knows
 * the stored tunnels (overlapping prefixes), and a file named after a stored tunnel is compared
 * with the others only. Without a helper the same parser and linter run here.
 */
async function checkConf(text: string, file: string, helper: () => Promise<HelperClient>): Promise<ConfProblem[]> {
  const name = basename(file).replace(/\.conf$/, '');
  try {
    const client = await helper();
    const stored = TUNNEL_NAME_PATTERN.test(name) && (await client.request('list', {})).tunnels.some((t) => t.name === name);
    const result = await client.request('validate', stored ? { confText: text, name } : { confText: text });
    return [...result.problems, ...(result.warnings ?? [])].sort((a, b) => a.line - b.line);
  } catch (err) {
    if (!(err instanceof HelperUnreachableError) && !(err instanceof HelperRequestError)) throw err;
  }
  const crypto = loadCryptoBackend();
  const inspector = createConfInspector(parseConf, (key) => crypto.publicKey(key));
  const inspection = inspector.inspect(text);
  if (!inspection.ok) return inspection.problems;
  return inspector.warnings(text, inspection.config);
}

function reportFlags(result: { name: string; hasScripts: boolean; fullTunnel: boolean }, io: CliIo): void {
  if (result.hasScripts) {
    io.stderr(
      `note: '${result.name}' has PreUp/PostUp/PreDown/PostDown commands; they run only once an administrator approves them ('sudo wirelane scripts allow ${result.name}'), and any change needs a new approval\n`,
    );
  }
}

/** Runs the command line and exits the process (engine/bin/wirelane calls it). */
export function main(): void {
  const io: CliIo = {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    now: () => Date.now(),
  };
  runWirelane(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`unexpected error: ${(err as Error)?.message ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
