/**
 * Settings: the app's own (theme, launch at login, start hidden; kept by main per user), the
 * helper's (log level; kept by the helper for everyone, `wirelane settings` reads the same), and
 * each tunnel's kill switch (helper state too). Every control applies at once; a refusal puts
 * the control back and says why.
 */
import { useEffect, useState } from 'react';
import type { AppSettings, AppTheme, LogLevel, TunnelSummary, WirelaneApi } from '../contract.js';
import { errorText } from '../api.js';

export interface SettingsPageProps {
  wirelane: WirelaneApi;
  appSettings: AppSettings | null;
  tunnels: readonly TunnelSummary[];
  helperRunning: boolean;
  notify: (text: string, kind?: 'info' | 'error') => void;
  /** The settings main stored and applied. */
  onAppSettings: (settings: AppSettings) => void;
  onBack: () => void;
}

const themes: { value: AppTheme; label: string }[] = [
  { value: 'system', label: 'Follow the system' },
  { value: 'light', label: 'Light' },
  { value: 'dark', label: 'Dark' },
];
const levels: LogLevel[] = ['debug', 'info', 'warn', 'error'];

export function SettingsPage({ wirelane, appSettings, tunnels, helperRunning, notify, onAppSettings, onBack }: SettingsPageProps) {
  const [logLevel, setLogLevel] = useState<LogLevel | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  useEffect(() => {
    if (!helperRunning) return;
    let live = true;
    void wirelane.getHelperSettings().then((result) => {
      if (live && result.ok) setLogLevel(result.value.settings.logLevel);
    });
    return () => {
      live = false;
    };
  }, [wirelane, helperRunning]);

  const changeApp = async (change: Partial<AppSettings>) => {
    setBusy(Object.keys(change)[0] ?? null);
    const result = await wirelane.setAppSettings(change);
    setBusy(null);
    if (result.ok) onAppSettings(result.value);
    else notify(errorText(result.error), 'error');
  };
  const changeLevel = async (level: LogLevel) => {
    setBusy('logLevel');
    const result = await wirelane.setHelperSettings({ logLevel: level });
    setBusy(null);
    if (result.ok) setLogLevel(result.value.settings.logLevel);
    else notify(errorText(result.error), 'error');
  };
  const changeKillSwitch = async (name: string, enabled: boolean) => {
    setBusy(`kill:${name}`);
    const result = await wirelane.setKillSwitch(name, enabled);
    setBusy(null);
    if (!result.ok) notify(errorText(result.error), 'error');
  };

  return (
    <section className="settings-page" aria-labelledby="page-title">
      <header className="page-header">
        <h2 id="page-title" tabIndex={-1}>
          Settings
        </h2>
        <div className="toolbar">
          <button type="button" onClick={onBack}>
            Back
          </button>
        </div>
      </header>
      <div className="settings-grid">
        <fieldset className="panel">
          <legend>Appearance</legend>
          {themes.map((theme) => (
            <label key={theme.value} className="check">
              <input
                type="radio"
                name="theme"
                value={theme.value}
                checked={appSettings?.theme === theme.value}
                disabled={appSettings === null || busy === 'theme'}
                onChange={() => void changeApp({ theme: theme.value })}
              />
              <span>{theme.label}</span>
            </label>
          ))}
        </fieldset>
        <fieldset className="panel">
          <legend>Startup</legend>
          <label className="check">
            <input
              type="checkbox"
              checked={appSettings?.launchAtLogin ?? false}
              disabled={appSettings === null || busy === 'launchAtLogin'}
              onChange={(e) => void changeApp({ launchAtLogin: e.target.checked })}
            />
            <span>Launch Wirelane when I log in</span>
          </label>
          <label className="check">
            <input
              type="checkbox"
              checked={appSettings?.startHidden ?? false}
              disabled={appSettings === null || busy === 'startHidden'}
              onChange={(e) => void changeApp({ startHidden: e.target.checked })}
            />
            <span>
              Start hidden <span className="muted">— only the tray icon when launched at login</span>
            </span>
          </label>
        </fieldset>
        <fieldset className="panel">
          <legend>Kill switch</legend>
          <p className="muted">While a tunnel with its kill switch on is on, nothing leaves outside it {tunnels.some((t) => t.fullTunnel) ? '(a full tunnel: towards anything)' : 'towards its networks'}.</p>
          {tunnels.length === 0 ? (
            <p className="muted">No tunnels yet.</p>
          ) : (
            tunnels.map((tunnel) => (
              <label key={tunnel.name} className="check">
                <input
                  type="checkbox"
                  checked={tunnel.killSwitch}
                  disabled={!helperRunning || busy === `kill:${tunnel.name}`}
                  onChange={(e) => void changeKillSwitch(tunnel.name, e.target.checked)}
                />
                <span>{tunnel.name}</span>
              </label>
            ))
          )}
        </fieldset>
        <fieldset className="panel">
          <legend>Service</legend>
          <label className="field">
            <span>Log level of the Wirelane service</span>
            <select value={logLevel ?? ''} disabled={logLevel === null || busy === 'logLevel'} onChange={(e) => void changeLevel(e.target.value as LogLevel)}>
              {logLevel === null && <option value="">{helperRunning ? 'Loading…' : 'Service not answering'}</option>}
              {levels.map((level) => (
                <option key={level} value={level}>
                  {level}
                </option>
              ))}
            </select>
          </label>
          <p className="muted">For everyone on this computer; <code>wirelane settings</code> shows the same.</p>
        </fieldset>
      </div>
    </section>
  );
}
