/** The OS configuration layer the helper uses: see types.ts for the pipeline. */
export * from './types.js';
export { createOsConfigurator, currentPlatform, OsApplyError, type OsConfiguratorOptions } from './configurator.js';
export { planTunnel, checkInterfaceName, DEFAULT_FULL_TUNNEL_TABLE, WIREGUARD_OVERHEAD } from './plan.js';
export { execFileRunner, describeCommand, type ExecFileRunnerOptions } from './runner.js';
export { Journal, readJournal, listJournals, undoJournal, recoverJournals, writeFileInPlace } from './journal.js';
export { linuxSteps, probeLinux, type LinuxOptions } from './linux.js';
export { darwinSteps, probeDarwin } from './darwin.js';
export { win32Steps, probeWin32 } from './win32.js';
export { OsValueError, formatCidr, parseCidrText } from './address.js';
export { KillSwitch, killSwitchDirOf, checkKillSwitchPolicy, type KillSwitchPolicy, type KillSwitchFirewall } from './killswitch.js';
export { nftKillSwitchScript, nftFirewall, nftChainName, NFT_TABLE } from './killswitch-nft.js';
