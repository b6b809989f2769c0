/**
 * The OsConfigurator the helper holds: one per process, for the platform it runs on.
 * It joins the pure parts (plan, per-platform steps) to the journal and the command runner.
 */
import { silentLogger, type Logger } from '../logger.js';
import { Journal, recoverJournals, undoJournal, writeFileInPlace } from './journal.js';
import { DARWIN_DNS_TARGET, darwinDnsTarget, darwinSteps, probeDarwin } from './darwin.js';
import { linuxSteps, probeLinux, readOriginal, type LinuxOptions } from './linux.js';
import { planTunnel } from './plan.js';
import { describeCommand, execFileRunner } from './runner.js';
import { probeWin32, win32Steps } from './win32.js';
import { KillSwitch, killSwitchDirOf, type KillSwitchFirewall } from './killswitch.js';
import { nftFirewall } from './killswitch-nft.js';
import { pfFirewall } from './killswitch-pf.js';
import { DnsStack, dnsStackDirOf } from './dns-stack.js';
import type {
  AppliedTunnel,
  CommandRunner,
  OsConfigurator,
  OsPlatform,
  OsStep,
  OsTunnelInput,
  OsTunnelPlan,
  SystemFacts,
  UndoReport,
} from './types.js';

export interface OsConfiguratorOptions {
  /** Where journals live: a directory in the helper's state dir, readable by the helper alone. */
  readonly journalDir: string;
  readonly platform?: OsPlatform;
  /** Default: execFile without a prefix. Tests pass one with an `ip netns exec NS` prefix. */
  readonly runner?: CommandRunner;
  readonly logger?: Logger;
  /** Linux only: the resolv.conf path and a forced DNS method. */
  readonly linux?: LinuxOptions;
}

/** An apply() that failed; the changes it made were undone (see `rollback`). */
export class OsApplyError extends Error {
  constructor(
    message: string,
    readonly rollback: UndoReport,
  ) {
    super(message);
    this.name = 'OsApplyError';
  }
}

export function currentPlatform(): OsPlatform {
  const platform = process.platform;
  if (platform === 'linux' || platform === 'darwin' || platform === 'win32') return platform;
  throw new Error(`Wirelane does not configure ${platform}`);
}

export function createOsConfigurator(options: OsConfiguratorOptions): OsConfigurator {
  const platform = options.platform ?? currentPlatform();
  const run = options.runner ?? execFileRunner();
  const logger = options.logger ?? silentLogger;
  const linuxOptions = options.linux ?? {};
  // The one file the OS layer edits in place (Linux without resolvectl or resolvconf): journals
  // may restore it and nothing else.
  const restorableFiles =
    platform === 'linux' ? [linuxOptions.resolvConfPath ?? '/etc/resolv.conf'] : platform === 'darwin' ? [DARWIN_DNS_TARGET] : [];

  const steps = (plan: OsTunnelPlan): OsStep[] => {
    if (plan.platform !== platform) throw new Error(`a ${plan.platform} plan cannot be applied on ${platform}`);
    if (platform === 'linux') return linuxSteps(plan, linuxOptions);
    if (platform === 'darwin') return darwinSteps(plan);
    return win32Steps(plan);
  };

  // Several tunnels' DNS in one resolv.conf (dns-stack.ts); undo actions take their layers out.
  const dnsStack = new DnsStack(dnsStackDirOf(options.journalDir), platform === 'darwin' ? { [DARWIN_DNS_TARGET]: darwinDnsTarget(run) } : {});
  const undoContext = { run, logger, restorableFiles, dnsStack };

  // Windows: the WFP calls exist (killswitch-wfp.ts) but the addon has no binding to run them yet.
  const killSwitchDir = killSwitchDirOf(options.journalDir);
  const firewall: KillSwitchFirewall | null =
    platform === 'linux' ? nftFirewall(run) : platform === 'darwin' ? pfFirewall(run, killSwitchDir) : null;
  const killSwitch = firewall ? new KillSwitch({ dir: killSwitchDir, platform, firewall, logger }) : null;

  return {
    platform,
    killSwitch,
    probe(input: OsTunnelInput): Promise<SystemFacts> {
      if (platform === 'linux') return probeLinux(input, run, linuxOptions);
      if (platform === 'darwin') return probeDarwin(input, run);
      return probeWin32(input, run);
    },
    plan(input: OsTunnelInput, facts: SystemFacts): OsTunnelPlan {
      return planTunnel(platform, input, facts);
    },
    steps,
    async apply(plan: OsTunnelPlan): Promise<AppliedTunnel> {
      // Computing every step first means a refused value fails before anything changes.
      const planned = steps(plan);
      const journal = await Journal.create(options.journalDir, plan.interfaceName);
      try {
        for (const step of planned) await applyStep(step, journal, run, logger, dnsStack);
      } catch (error) {
        await journal.close();
        logger.warn(`connecting ${plan.interfaceName} failed; undoing what was applied: ${(error as Error).message}`);
        const rollback = await undoJournal(journal.path, undoContext);
        throw new OsApplyError((error as Error).message, rollback);
      }
      await journal.close();
      return { plan, journalPath: journal.path };
    },
    revert(applied: AppliedTunnel): Promise<UndoReport> {
      return undoJournal(applied.journalPath, undoContext);
    },
    recover(): Promise<UndoReport> {
      return recoverJournals(options.journalDir, undoContext);
    },
  };
}

async function applyStep(step: OsStep, journal: Journal, run: CommandRunner, logger: Logger, dnsStack: DnsStack): Promise<void> {
  if (step.kind === 'push-dns') {
    // The layer's name is journalled before the stack changes, so a crash in between is undone too.
    const layer = dnsStack.newLayerName(step.owner);
    const seq = await journal.begin(step.description, [{ kind: 'dns-stack-remove', path: step.path, layer }]);
    logger.info(step.description);
    await dnsStack.push(step.path, layer, step.content);
    await journal.finish(seq, 'done');
    return;
  }
  if (step.kind === 'record') {
    await journal.finish(await journal.begin(step.description, step.undo), 'done');
    return;
  }
  if (step.kind === 'write-file') {
    const original = await readOriginal(step.path);
    const seq = await journal.begin(step.description, [
      { kind: 'restore-file', path: step.path, originalBase64: original === null ? null : Buffer.from(original).toString('base64') },
    ]);
    logger.info(step.description);
    await writeFileInPlace(step.path, Buffer.from(step.content, 'utf8'));
    await journal.finish(seq, 'done');
    return;
  }
  const seq = await journal.begin(step.description, step.undo);
  const { file, args, input } = step.command;
  logger.info(`[#] ${describeCommand(file, args)}`);
  const result = await run(file, args, input === undefined ? undefined : { input });
  if (result.code === 0) {
    await journal.finish(seq, 'done');
    return;
  }
  if ((step.alreadyDone ?? []).some((pattern) => new RegExp(pattern, 'i').test(result.stderr))) {
    if (step.alreadyDoneIf) {
      const check = await run(step.alreadyDoneIf.file, step.alreadyDoneIf.args);
      if (check.code !== 0 || check.stdout.trim() === '') {
        throw new Error(`${step.description}: something else holds it already (${describeCommand(file, args)}: ${result.stderr.trim()})`);
      }
    }
    // Already there before us (e.g. the kernel's prefix route of an address): not ours to remove.
    await journal.finish(seq, 'skipped');
    return;
  }
  throw new Error(`${step.description}: ${describeCommand(file, args)} exited with ${result.code}: ${result.stderr.trim()}`);
}
