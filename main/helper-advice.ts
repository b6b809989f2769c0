/**
 * What the window and tray tell a person whose helper is missing or stopped. Pure, so the
 * renderer's text comes from main's snapshot and is tested here.
 */
/** What to tell a person whose helper is missing or stopped, per platform. */
export function helperAdvice(platform: NodeJS.Platform, state: 'not_installed' | 'not_running'): string {
  if (state === 'not_installed') {
    if (platform === 'darwin') return 'Reinstall Wirelane and allow it to install its helper when asked for your password.';
    if (platform === 'win32') return 'Run the Wirelane installer again; it installs the Wirelane service.';
    return 'Install the wirelane package (deb), or run engine/bin/wirelane-helper as root.';
  }
  if (platform === 'darwin') return 'Start it with: sudo launchctl kickstart -k system/com.wirelane.helper';
  if (platform === 'win32') return 'Start the "Wirelane" service in Services, or run: sc start WirelaneHelper';
  return 'Start it with: sudo systemctl start wirelane-helper';
}
