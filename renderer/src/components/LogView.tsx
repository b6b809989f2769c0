/** A tunnel's log: the helper's recent ring, then live lines as they arrive. */
import type { LogEntry, WirelaneApi } from '../contract.js';
import { useEffect, useState } from 'react';

const KEEP = 1000;

export function LogView({ name, wirelane }: { name: string; wirelane: WirelaneApi }) {
  const [entries, setEntries] = useState<LogEntry[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    wirelane.onLog(
      (push) => {
        if (push.name === name) setEntries((old) => [...old, push.entry].slice(-KEEP));
      },
      { signal: controller.signal },
    );
    void wirelane.getLogs(name).then((result) => {
      if (controller.signal.aborted) return;
      if (result.ok) setEntries((live) => [...result.value.entries, ...live].slice(-KEEP));
      else setError(result.error.message);
    });
    return () => controller.abort();
  }, [name, wirelane]);

  return (
    <section className="log" aria-label={`Log of ${name}`}>
      <h3>Log</h3>
      {error && <p className="error-text">{error}</p>}
      <pre tabIndex={0} aria-live="off">
        {entries.length === 0
          ? 'No log lines yet.'
          : entries.map((e) => `${new Date(e.time).toLocaleTimeString()} ${e.level.toUpperCase().padEnd(5)} ${e.message}`).join('\n')}
      </pre>
    </section>
  );
}
