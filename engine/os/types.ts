/**
 * What the privileged helper asks of the operating system when a tunnel connects, and how it is
 * taken back when the tunnel disconnects (or when the helper was killed in between).
 *
 * The pipeline, in the order the helper calls it:
 *
 *   OsTunnelInput --probe()--> SystemFacts        reads the system (route MTUs, gateways, DNS
 *                                                  settings, free routing tables); changes nothing
 *   (input, facts) --plan()--> OsTunnelPlan        pure: what wg-quick would do, as data
 *   plan --stepsFor()--> OsStep[]                  pure, per platform: argv lists and file writes,
 *                                                  each with the argv lists that undo it
 *   apply(plan)                                    runs the steps; before each one, its undo is
 *                                                  appended to a journal file and fsync'd
 *   revert(applied) / recover()                    undo in reverse from the journal
 *
 * Nothing here goes through a shell: every command is a program and an argument vector.
 */
import type { Cidr } from '../routing/cidr.js';
import type { KillSwitch } from './killswitch.js';

export type OsPlatform = 'linux' | 'darwin' | 'win32';

/**
 * The part of a tunnel's configuration the OS layer needs. The helper fills it from the parsed
 * wg-quick configuration (engine/conf) and from the running device: endpoint host names are
 * resolved by then, and the interface name is the one the OS gave the TUN device.
 */
export interface OsTunnelInput {
  /** The OS interface: "wg0" on Linux, "utun7" on macOS, the Wintun adapter's name on Windows. */
  readonly interfaceName: string;
  /** [Interface] Address: host addresses with their prefix length (host bits kept). */
  readonly addresses: readonly Cidr[];
  /** [Interface] DNS: servers are IP literals; everything else in DNS= is a search domain. */
  readonly dns: { readonly servers: readonly string[]; readonly searchDomains: readonly string[] };
  /** [Interface] MTU; when absent it is computed as wg-quick does (underlay MTU minus 80). */
  readonly mtu?: number;
  /** [Interface] Table: absent or 'auto' = main table (and fwmark rules for a /0), 'off' = no routes. */
  readonly table?: 'off' | 'auto' | number;
  /** [Interface] FwMark; on Linux it is also the full-tunnel routing table when set. */
  readonly fwMark?: number;
  /** The AllowedIPs of every peer, in any order, duplicates allowed. */
  readonly allowedIps: readonly Cidr[];
  /** The peers' endpoint addresses (IP literals, no port) as the device uses them. */
  readonly endpoints: readonly string[];
  /**
   * The helper created this interface for the tunnel: undo (and crash recovery) deletes it on Linux.
   * On macOS and Windows the utun / Wintun device goes away with the helper's handle.
   */
  readonly ownsInterface?: boolean;
  /** Windows: the Wintun adapter's GUID, "{xxxxxxxx-...}" (its registry key holds the DNS search list). */
  readonly interfaceGuid?: string;
}

/** What probe() read from the system that plan() needs. Each platform fills its own part. */
export interface SystemFacts {
  /**
   * The MTU of the path wg-quick measures: the largest MTU of the routes toward the endpoints, else
   * the default route's, else undefined (plan() then takes 1500).
   */
  readonly underlayMtu?: number;
  /** Linux: the first routing table from 51820 up that holds no IPv4 or IPv6 route. */
  readonly freeTable?: number;
  /** Linux: the interface's MTU and state before we touched it (restored on revert). */
  readonly linkBefore?: { readonly mtu: number; readonly up: boolean };
  /** Linux: net.ipv4.conf.all.src_valid_mark before connect. */
  readonly srcValidMarkBefore?: boolean;
  /** Linux: how DNS is configured on this machine. */
  readonly linuxDns?: 'resolvectl' | 'resolvconf' | 'resolv.conf';
  /** macOS and Windows: the default gateways that endpoint host routes go through. */
  readonly gateway4?: Gateway;
  readonly gateway6?: Gateway;
  /** macOS: every network service with its DNS settings before connect ("Empty" = none set). */
  readonly networkServices?: readonly NetworkServiceDns[];
  /** Windows: the adapter's GUID (its per-interface registry key holds the DNS search list). */
  readonly interfaceGuid?: string;
}

export interface Gateway {
  /** The next hop, an IP literal. */
  readonly address: string;
  /** macOS: the BSD interface name ("en0"); Windows: the interface index as text ("12"). */
  readonly interface: string;
}

export interface NetworkServiceDns {
  /** As `networksetup -listallnetworkservices` prints it, without the leading "*" of a disabled one. */
  readonly name: string;
  /** The DNS servers before connect, or ["Empty"] when none were set by hand. */
  readonly servers: readonly string[];
  /** The search domains before connect, or ["Empty"]. */
  readonly searchDomains: readonly string[];
}

/** A route the plan adds. `table` is a Linux routing table number; absent = the main table. */
export interface PlannedRoute {
  readonly destination: Cidr;
  readonly table?: number;
}

/** wg-quick's two full-tunnel policy rules on Linux, per address family. */
export type PlannedRule =
  /** `ip rule add not fwmark F table T`: unmarked packets (not the tunnel's own) use table T. */
  | { readonly kind: 'not-fwmark'; readonly family: 4 | 6; readonly fwmark: number; readonly table: number }
  /** `ip rule add table main suppress_prefixlength 0`: main table routes except its default route. */
  | { readonly kind: 'main-suppress-default'; readonly family: 4 | 6 };

/** A host route to an endpoint through the gateway it used before the tunnel took the default route. */
export interface EndpointRoute {
  readonly destination: string;
  readonly family: 4 | 6;
  /** Undefined when there was no gateway: the route is then a blackhole, so the tunnel cannot loop. */
  readonly gateway?: Gateway;
}

/** A pure description of what connect applies. */
export interface OsTunnelPlan {
  readonly platform: OsPlatform;
  readonly interfaceName: string;
  /** Undo deletes the interface (Linux): the helper created it for this tunnel. */
  readonly ownsInterface: boolean;
  readonly addresses: readonly Cidr[];
  readonly mtu: number;
  /** Longest prefix first, as wg-quick adds them. */
  readonly routes: readonly PlannedRoute[];
  readonly rules: readonly PlannedRule[];
  readonly endpointRoutes: readonly EndpointRoute[];
  /** Null when DNS= is empty (wg-quick then leaves DNS alone). */
  readonly dns: {
    readonly servers: readonly string[];
    readonly searchDomains: readonly string[];
    /** The tunnel carries the default route: its DNS servers answer every query. */
    readonly defaultRoute: boolean;
  } | null;
  /**
   * Linux full tunnel: the firewall mark the helper must set on the device (UAPI fwmark) before
   * apply(), as wg-quick runs `wg set IFACE fwmark N`; null when no mark is needed.
   */
  readonly fwmark: number | null;
  /** Linux full tunnel over IPv4: set net.ipv4.conf.all.src_valid_mark=1 as wg-quick does. */
  readonly srcValidMark: boolean;
  /** The facts the plan was computed from (the steps need some of them: originals to restore). */
  readonly facts: SystemFacts;
}

/** One argument vector: a program and its arguments, never a shell line. */
export interface Command {
  readonly file: string;
  readonly args: readonly string[];
  /** Bytes for the program's standard input (resolvconf reads its configuration there). */
  readonly input?: string;
}

/**
 * How to take a step back. Undo is idempotent: `alreadyUndone` lists stderr patterns (regexp
 * sources) meaning the thing is already gone or never was (the interface was deleted, the route
 * does not exist), which count as success.
 */
export type UndoAction =
  | { readonly kind: 'run'; readonly command: Command; readonly alreadyUndone?: readonly string[] }
  /**
   * Writes the original bytes back into the same file, in place (it may be a bind mount);
   * null: the file did not exist before, so it is removed.
   */
  | { readonly kind: 'restore-file'; readonly path: string; readonly originalBase64: string | null }
  /**
   * Takes a tunnel's layer out of the DNS stack of `path` (dns-stack.ts): the file then holds the
   * newest layer left, or the machine's own bytes when none is. Idempotent.
   */
  | { readonly kind: 'dns-stack-remove'; readonly path: string; readonly layer: string };

/** One change to the system with the actions that undo it. */
export type OsStep =
  | {
      readonly kind: 'run';
      readonly description: string;
      readonly command: Command;
      /** stderr patterns meaning "it is already there": the step is skipped and never undone. */
      readonly alreadyDone?: readonly string[];
      /**
       * When set, "already there" is believed only if this command prints something: what is there
       * must be what we wanted (a route through our own interface, not another's of the same
       * prefix), else the step fails.
       */
      readonly alreadyDoneIf?: Command;
      readonly undo: readonly UndoAction[];
    }
  /** Nothing to run now, only something to undo later (an interface the helper created). */
  | { readonly kind: 'record'; readonly description: string; readonly undo: readonly UndoAction[] }
  /** Replace a file's content in place; its original bytes go to the journal first. */
  | { readonly kind: 'write-file'; readonly description: string; readonly path: string; readonly content: string }
  /**
   * Puts this tunnel's resolver file content on top of the DNS stack of `path` (several tunnels
   * may each have theirs; see dns-stack.ts). `owner` names the layer (the interface).
   */
  | { readonly kind: 'push-dns'; readonly description: string; readonly path: string; readonly owner: string; readonly content: string };

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  /** The exit status; 127 when the program could not be started; -1 when killed by a signal or timeout. */
  readonly code: number;
}

export interface RunOptions {
  readonly input?: string;
  readonly timeoutMs?: number;
}

/** Runs one program with an argument vector (no shell). Resolves for every exit status. */
export type CommandRunner = (file: string, args: readonly string[], options?: RunOptions) => Promise<CommandResult>;

/** What revert() or recover() undid, for the helper's log and its answer to the UI. */
export interface UndoReport {
  /** The journal files read. */
  readonly journals: readonly string[];
  /** Descriptions of the steps undone, in the order they were undone. */
  readonly undone: readonly string[];
  /** Undo actions that failed for another reason than "already undone". */
  readonly failures: readonly { readonly step: string; readonly error: string }[];
}

/** A plan that apply() carried out, and the journal that records how to undo it. */
export interface AppliedTunnel {
  readonly plan: OsTunnelPlan;
  readonly journalPath: string;
}

/**
 * The per-platform configurator the helper holds one of. Every method that touches the system does
 * so through the injected CommandRunner and journal directory, so tests can run it inside a network
 * namespace (a runner with an `ip netns exec NS` prefix) or against a recording fake.
 */
export interface OsConfigurator {
  readonly platform: OsPlatform;
  /** Reads what plan() needs. Changes nothing. */
  probe(input: OsTunnelInput): Promise<SystemFacts>;
  /** Pure: the configuration wg-quick would apply for this input on this platform. */
  plan(input: OsTunnelInput, facts: SystemFacts): OsTunnelPlan;
  /** The exact commands and file writes for a plan (pure; what the unit tests compare). */
  steps(plan: OsTunnelPlan): OsStep[];
  /**
   * Applies a plan, journalling each step before it runs. On failure, undoes what it applied,
   * removes the journal and rejects with the first error.
   */
  apply(plan: OsTunnelPlan): Promise<AppliedTunnel>;
  /** Undoes an applied tunnel in reverse from its journal, then deletes the journal. */
  revert(applied: AppliedTunnel): Promise<UndoReport>;
  /**
   * At helper start only: undoes every journal a killed helper left behind (interfaces, routes,
   * rules, DNS, resolv.conf) and deletes them.
   */
  recover(): Promise<UndoReport>;
  /**
   * The kill switch of this platform (killswitch.ts), its records beside the journals; null or
   * absent where the platform's firewall is not driven yet. recover() leaves it alone: it must
   * outlive the tunnels' journals (the helper recovers it separately, keeping tunnels that are on).
   */
  readonly killSwitch?: KillSwitch | null;
}
