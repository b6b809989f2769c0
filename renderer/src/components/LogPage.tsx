/**
 * A log: one tunnel's, or the whole helper's (its own lines and every tunnel's). The recent ring
 * first, then live lines as they come; Copy and Save… hand main the name, and main reads the log
 * from the helper itself, so no text from the window is ever written anywhere.
 */
import { useEffect, useRef, useState } from 'react';
import type { LogEntry, WirelaneApi } from '../contract.js';
import { errorText } from '../api.js';

const KEEP = 1000;

interface Line extends LogEntry {
  name: string | null;
}

export interface LogPageProps {
  /** A tunnel's name, or null for the whole helper. */
  name: string | null;
  wirelane: WirelaneApi;
  notify: (text: string, kind?: 'info' | 'error') => void;
  onBack: () => void;
}

function formatLine(line: Line, whole: boolean): string {
  const time = new Date(line.time).toLocaleTimeString();
  const who = whole ? `${(line.name ?? 'helper').padEnd(15)} ` : '';
  return `${time} ${line.level.toUpperCase().padEnd(5)} ${who}${line.message}`;
}

export function LogPage({ name, wirelane, notify, onBack }: LogPageProps) {
  const [lines, setLines] = useState<Line[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const view = useRef<HTMLPreElement>(null);
  const whole = name === null;

  useEffect(() => {
    const controller = new AbortController();
    wirelane.onLog(
      (push) => {
        if (whole || push.name === name) setLines((old) => [...old, { ...push.entry, name: push.name }].slice(-KEEP));
      },
      { signal: controller.signal },
    );
    const loadedLines: Promise<Line[] | string> = whole
      ? wirelane.getHelperLog().then((r) => (r.ok ? r.value.entries : errorText(r.error)))
      : wirelane.getLogs(name).then((r) => (r.ok ? r.value.entries.map((e) => ({ ...e, name })) : errorText(r.error)));
    void loadedLines.then((result) => {
      if (controller.signal.aborted) return;
      setLoaded(true);
      if (typeof result === 'string') setError(result);
      else setLines((live) => [...result, ...live].slice(-KEEP));
    });
    return () => controller.abort();
  }, [name, whole, wirelane]);

  // Follow the end while the person has not scrolled up.
  useEffect(() => {
    const element = view.current;
    if (element && element.scrollHeight - element.scrollTop - element.clientHeight < 40) element.scrollTop = element.scrollHeight;
  }, [lines]);

  const copy = async () => {
    const result = await wirelane.copyLog(name);
    notify(result.ok ? 'Log copied.' : errorText(result.error), result.ok ? 'info' : 'error');
  };
  const save = async () => {
    const result = await wirelane.saveLog(name);
    if (result.ok) notify(`Log saved to ${result.value.savedTo}`);
    else if (result.error.code !== 'cancelled') notify(errorText(result.error), 'error');
  };

  const title = whole ? 'Helper log' : `Log of ${name}`;
  return (
    <section className="log-page" aria-labelledby="page-title">
      <header className="page-header">
        <h2 id="page-title" tabIndex={-1}>
          {title}
        </h2>
        <div className="toolbar" role="group" aria-label="Log actions">
          <button type="button" onClick={() => void copy()}>
            Copy
          </button>
          <button type="button" onClick={() => void save()}>
            Save…
          </button>
          <button type="button" onClick={onBack}>
            Back
          </button>
        </div>
      </header>
      {whole && <p className="muted">Everything the Wirelane service wrote lately: its own lines and every tunnel’s.</p>}
      {error && <p className="error-text">{error}</p>}
      <pre ref={view} tabIndex={0} aria-label={title} className="log-lines" data-testid="log-lines">
        {lines.length === 0 ? (loaded ? 'No log lines yet.' : 'Loading…') : lines.map((line) => formatLine(line, whole)).join('\n')}
      </pre>
    </section>
  );
}
