/**
 * macOS: installing the helper as a launchd daemon on first run, with the administrator's
 * consent (the system's password prompt, through `osascript … with administrator privileges`).
 *
 * A root daemon must not run code its user can change, and an app the user dragged to
 * /Applications belongs to that user. So the install first copies the app bundle to a root-owned
 * place (/Library/PrivilegedHelperTools/Wirelane.app), and the daemon runs the helper from that
 * copy (packaging/service/com.wirelane.helper.plist: Electron's binary as Node, with
 * ELECTRON_RUN_AS_NODE=1, on app.asar/engine/bin/wirelane-helper). Then, as the plist's own
 * comment says: copy it to /Library/LaunchDaemons, chown root:wheel, chmod 644, launchctl bootstrap.
 *
 * Every path is shell-quoted for `do shell script`, and the script is then escaped as an
 * AppleScript string; osascript is run with an argument vector, never through another shell.
 */
import { dirname } from 'node:path';

export const HELPER_LABEL = 'com.wirelane.helper';
export const INSTALLED_APP = '/Library/PrivilegedHelperTools/Wirelane.app';
export const LAUNCH_DAEMON_PLIST = `/Library/LaunchDaemons/${HELPER_LABEL}.plist`;
export const HELPER_LOG_DIR = '/Library/Logs/Wirelane';

/** A POSIX shell word that is exactly `value`, whatever it holds. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** An AppleScript string literal of `value` (only backslash and double quote need escaping). */
export function appleScriptString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The running app's bundle (…/Wirelane.app) from Electron's executable path (…/Contents/MacOS/Wirelane). */
export function appBundleOf(execPath: string): string {
  return dirname(dirname(dirname(execPath)));
}

/** The shell script that installs and starts the daemon, as root. */
export function installScript(appBundle: string): string {
  const app = shellQuote(INSTALLED_APP);
  const plist = shellQuote(LAUNCH_DAEMON_PLIST);
  return [
    'set -e',
    `mkdir -p /Library/PrivilegedHelperTools ${shellQuote(HELPER_LOG_DIR)}`,
    `rm -rf ${app}`,
    `ditto ${shellQuote(appBundle)} ${app}`,
    `chown -R root:wheel ${app}`,
    `chmod -R go-w ${app}`,
    `cp ${shellQuote(`${INSTALLED_APP}/Contents/Resources/service/${HELPER_LABEL}.plist`)} ${plist}`,
    `chown root:wheel ${plist}`,
    `chmod 644 ${plist}`,
    // A daemon from an earlier install is stopped first; there may be none.
    `launchctl bootout system/${HELPER_LABEL} 2>/dev/null || true`,
    `launchctl bootstrap system ${plist}`,
  ].join('\n');
}

/** osascript and its arguments: run with execFile, never through a shell. */
export function installCommand(appBundle: string): { file: string; args: string[] } {
  return {
    file: '/usr/bin/osascript',
    args: ['-e', `do shell script ${appleScriptString(installScript(appBundle))} with administrator privileges`],
  };
}

/** osascript's "User canceled. (-128)" at the password prompt: a choice, not a failure to show. */
export function installWasCancelled(stderr: string): boolean {
  return /-128\b/.test(stderr);
}
