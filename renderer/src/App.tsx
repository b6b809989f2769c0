/**
 * The window: the tunnel list beside the selected tunnel, or the editor, or an import report;
 * the helper's state takes over when it cannot be reached. Files can be dropped anywhere and a
 * configuration pasted anywhere outside a text field.
 */
import type { ConfProblem, PickedFile, WirelaneApi } from './contract.js';
import { useCallback, useEffect, useMemo, useState } from 'react';
import { errorText } from './api.js';
import { newConfTemplate } from './conf-view.js';
import { EditorPage } from './components/EditorPage.js';
import { HelperState } from './components/HelperState.js';
import { TunnelList } from './components/TunnelList.js';
import { TunnelPage } from './components/TunnelPage.js';
import { fileListToPicked, filesToCandidates, importCandidates, type ImportOutcome } from './import-flow.js';
import { AppStore, useAppState } from './store.js';

type Page =
  | { kind: 'tunnel' }
  | { kind: 'editor'; mode: 'create' | 'update'; name: string; text: string; problems: ConfProblem[]; heading: string }
  | { kind: 'import-report'; outcomes: ImportOutcome[]; skipped: string[] };

function useClock(): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

export function App({ wirelane }: { wirelane: WirelaneApi }) {
  const store = useMemo(() => new AppStore(), []);
  const { snapshot, rates } = useAppState(store);
  const [selected, setSelected] = useState<string | null>(null);
  const [page, setPage] = useState<Page>({ kind: 'tunnel' });
  const [notice, setNotice] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const now = useClock();

  useEffect(() => {
    const controller = new AbortController();
    void store.connect(wirelane, controller.signal);
    return () => controller.abort();
  }, [store, wirelane]);

  const tunnels = snapshot?.tunnels ?? [];
  const current = tunnels.find((t) => t.name === selected) ?? tunnels[0] ?? null;

  const importFiles = useCallback(
    async (files: PickedFile[]) => {
      setNotice(null);
      const { candidates, skipped } = await filesToCandidates(files);
      const outcomes = await importCandidates(wirelane, candidates);
      const failed = outcomes.filter((o): o is Extract<ImportOutcome, { ok: false }> => !o.ok);
      const first = outcomes[0];
      if (outcomes.length === 1 && first && first.ok && skipped.length === 0) {
        setSelected(first.name);
        setPage({ kind: 'tunnel' });
        setNotice(`Imported ${first.name}.`);
      } else if (outcomes.length === 1 && failed[0] && failed[0].problems.length > 0 && skipped.length === 0) {
        const f = failed[0];
        setPage({ kind: 'editor', mode: 'create', name: f.name, text: f.confText, problems: f.problems, heading: `Import ${f.source}` });
      } else {
        setPage({ kind: 'import-report', outcomes, skipped });
      }
    },
    [wirelane],
  );

  useEffect(() => {
    const controller = new AbortController();
    wirelane.onImportFiles((files) => void importFiles(files), { signal: controller.signal });
    const onDragOver = (event: DragEvent) => {
      if (event.dataTransfer?.types.includes('Files')) {
        event.preventDefault();
        setDragging(true);
      }
    };
    const onDragLeave = (event: DragEvent) => {
      if (event.relatedTarget === null) setDragging(false);
    };
    const onDrop = (event: DragEvent) => {
      event.preventDefault();
      setDragging(false);
      const files = event.dataTransfer?.files;
      if (files && files.length > 0) void fileListToPicked(files).then(importFiles);
    };
    const onPaste = (event: ClipboardEvent) => {
      const target = event.target as HTMLElement | null;
      if (target?.closest('input, textarea, [contenteditable="true"]')) return;
      const text = event.clipboardData?.getData('text/plain') ?? '';
      if (!/\[Interface\]/i.test(text)) return;
      event.preventDefault();
      setPage({ kind: 'editor', mode: 'create', name: '', text, problems: [], heading: 'Import pasted configuration' });
    };
    window.addEventListener('dragover', onDragOver, { signal: controller.signal });
    window.addEventListener('dragleave', onDragLeave, { signal: controller.signal });
    window.addEventListener('drop', onDrop, { signal: controller.signal });
    window.addEventListener('paste', onPaste, { signal: controller.signal });
    return () => controller.abort();
  }, [wirelane, importFiles]);

  const pickFiles = async () => {
    const picked = await wirelane.pickImportFiles();
    if (picked.ok) await importFiles(picked.value);
    else if (picked.error.code !== 'cancelled') setNotice(errorText(picked.error));
  };

  const createTunnel = async () => {
    const keys = await wirelane.generateKeypair();
    if (!keys.ok) {
      setNotice(errorText(keys.error));
      return;
    }
    setPage({ kind: 'editor', mode: 'create', name: '', text: newConfTemplate(keys.value.privateKey), problems: [], heading: 'New tunnel' });
    setNotice(`New key pair generated. Give the peer this public key: ${keys.value.publicKey}`);
  };

  const editTunnel = async (name: string) => {
    // The text with its keys "(hidden)": saving it back keeps the stored keys (see updateTunnel).
    const tunnel = await wirelane.getTunnel(name);
    if (!tunnel.ok) {
      setNotice(errorText(tunnel.error));
      return;
    }
    setPage({ kind: 'editor', mode: 'update', name, text: tunnel.value.confText, problems: [], heading: `Edit ${name}` });
  };

  const [renaming, setRenaming] = useState<{ from: string; to: string } | null>(null);
  const renameTunnel = async () => {
    if (!renaming || renaming.to === renaming.from) return setRenaming(null);
    const result = await wirelane.renameTunnel(renaming.from, renaming.to);
    if (result.ok) {
      setSelected(result.value.name);
      setRenaming(null);
    } else setNotice(errorText(result.error));
  };

  if (!snapshot) return <main className="loading">Loading…</main>;
  const helperRunning = snapshot.helper.state === 'running';

  return (
    <div className={`app ${dragging ? 'dragging' : ''}`}>
      <nav className="sidebar" aria-label="Tunnels">
        <h1>Wirelane</h1>
        {helperRunning && <TunnelList tunnels={tunnels} selected={current?.name ?? null} onSelect={(name) => (setSelected(name), setPage({ kind: 'tunnel' }))} />}
        <div className="sidebar-actions">
          <button type="button" onClick={() => void pickFiles()} disabled={!helperRunning}>
            Import from file…
          </button>
          <button type="button" onClick={() => void createTunnel()} disabled={!helperRunning}>
            New tunnel
          </button>
          <p className="muted hint">Or drop .conf, .zip or QR images here, or paste a configuration.</p>
        </div>
      </nav>
      <main className="content">
        {notice && (
          <p className="note" role="status">
            {notice}{' '}
            <button type="button" className="small" onClick={() => setNotice(null)} aria-label="Dismiss">
              ×
            </button>
          </p>
        )}
        {renaming && (
          <form
            className="dialog"
            role="dialog"
            aria-labelledby="rename-title"
            onSubmit={(e) => {
              e.preventDefault();
              void renameTunnel();
            }}
          >
            <h3 id="rename-title">Rename {renaming.from}</h3>
            <label className="field">
              <span>New name</span>
              <input autoFocus value={renaming.to} onChange={(e) => setRenaming({ ...renaming, to: e.target.value })} spellCheck={false} />
            </label>
            <div className="actions">
              <button type="button" onClick={() => setRenaming(null)}>
                Cancel
              </button>
              <button type="submit" className="primary">
                Rename
              </button>
            </div>
          </form>
        )}
        {!helperRunning ? (
          <HelperState snapshot={snapshot} />
        ) : page.kind === 'editor' ? (
          <EditorPage
            key={`${page.mode}:${page.name}:${page.heading}`}
            wirelane={wirelane}
            mode={page.mode}
            initialName={page.name}
            initialText={page.text}
            initialProblems={page.problems}
            heading={page.heading}
            onSaved={(name) => {
              setSelected(name);
              setPage({ kind: 'tunnel' });
              setNotice(`Saved ${name}.`);
            }}
            onCancel={() => setPage({ kind: 'tunnel' })}
          />
        ) : page.kind === 'import-report' ? (
          <section aria-labelledby="report-title" className="import-report">
            <h2 id="report-title">Import</h2>
            <ul>
              {page.outcomes.map((outcome, index) => (
                <li key={index} className={outcome.ok ? 'ok' : 'failed'}>
                  {outcome.ok ? (
                    `${outcome.source}: imported as ${outcome.name}`
                  ) : (
                    <>
                      {outcome.source}: {outcome.message}{' '}
                      <button
                        type="button"
                        className="small"
                        onClick={() =>
                          setPage({ kind: 'editor', mode: 'create', name: outcome.name, text: outcome.confText, problems: outcome.problems, heading: `Import ${outcome.source}` })
                        }
                      >
                        Fix in editor
                      </button>
                    </>
                  )}
                </li>
              ))}
              {page.skipped.map((line) => (
                <li key={line} className="failed">
                  {line}
                </li>
              ))}
            </ul>
            <button type="button" onClick={() => setPage({ kind: 'tunnel' })}>
              Done
            </button>
          </section>
        ) : current ? (
          <TunnelPage
            key={current.name}
            tunnel={current}
            rates={rates[current.name] ?? []}
            wirelane={wirelane}
            now={now}
            onEdit={() => void editTunnel(current.name)}
            onRename={() => setRenaming({ from: current.name, to: current.name })}
            onDeleted={() => setSelected(null)}
          />
        ) : (
          <section className="empty">
            <h2>No tunnels yet</h2>
            <p>Import a WireGuard configuration from a file, drop one here, paste one, or create a new tunnel.</p>
          </section>
        )}
      </main>
    </div>
  );
}
