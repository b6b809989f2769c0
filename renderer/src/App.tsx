/**
 * The window: a banner that says whether anything is protected, the tunnel list beside the
 * selected tunnel (or the editor, an import report, a log, the settings); the helper's state
 * takes over when it cannot be reached, except over unsaved editor text, which stays. Files can
 * be dropped anywhere and a configuration (text, or a QR image) pasted anywhere outside a text
 * field. Keyboard: Ctrl+O import, Ctrl+N new, Ctrl+S save, F2 rename, Delete delete, Escape back;
 * focus always lands on the new page's heading or first field, never on the page itself.
 * Anything that would leave unsaved editor text asks first.
 */
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import type { AppSettings, ConfProblem, PickedFile, WirelaneApi } from './contract.js';
import { errorText } from './api.js';
import { newConfTemplate } from './conf-view.js';
import { EditorPage, nameProblem } from './components/EditorPage.js';
import { HelperState } from './components/HelperState.js';
import { LogPage } from './components/LogPage.js';
import { Modal } from './components/Modal.js';
import { ProtectionBanner } from './components/ProtectionBanner.js';
import { SettingsPage } from './components/SettingsPage.js';
import { TunnelList } from './components/TunnelList.js';
import { TunnelPage } from './components/TunnelPage.js';
import { fileListToPicked, filesToCandidates, importCandidates, isImageFile, type ImportOutcome } from './import-flow.js';
import { AppStore, useAppState } from './store.js';
import { applyTheme } from './theme.js';
import { isOn } from './tunnel-state.js';

type Page =
  | { kind: 'tunnel' }
  | { kind: 'editor'; mode: 'create' | 'update'; name: string; text: string; problems: ConfProblem[]; heading: string; unsaved: boolean; id: number }
  | { kind: 'import-report'; outcomes: ImportOutcome[]; skipped: string[] }
  | { kind: 'log'; name: string | null }
  | { kind: 'settings' };

type Dialog = { kind: 'delete'; name: string } | { kind: 'rename'; name: string } | { kind: 'discard'; what: string; then: () => void };

interface Notice {
  id: number;
  text: string;
  kind: 'info' | 'error';
  /** About the helper being away: goes once it is back. */
  helperDown?: boolean;
}

/** An info notice goes by itself after this long; an error stays until dismissed or left. */
const NOTICE_MS = 8000;

function useClock(): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

let editorIds = 0;

export function App({ wirelane }: { wirelane: WirelaneApi }) {
  const store = useMemo(() => new AppStore(), []);
  const { snapshot, rates } = useAppState(store);
  const [selected, setSelected] = useState<string | null>(null);
  const [page, setPage] = useState<Page>({ kind: 'tunnel' });
  const [notice, setNotice] = useState<Notice | null>(null);
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const [dragging, setDragging] = useState(false);
  const [appSettings, setAppSettings] = useState<AppSettings | null>(null);
  const now = useClock();
  const editorDirty = useRef(false);
  const focusNext = useRef<string | null>(null);
  const noticeIds = useRef(0);

  useEffect(() => {
    const controller = new AbortController();
    void store.connect(wirelane, controller.signal);
    wirelane.onAppSettings((settings) => setAppSettings(settings), { signal: controller.signal });
    void wirelane.getAppSettings().then((result) => {
      if (!controller.signal.aborted && result.ok) setAppSettings((current) => current ?? result.value);
    });
    return () => controller.abort();
  }, [store, wirelane]);

  useEffect(() => applyTheme(appSettings?.theme ?? 'system'), [appSettings?.theme]);

  const tunnels = useMemo(() => snapshot?.tunnels ?? [], [snapshot]);
  const current = tunnels.find((t) => t.name === selected) ?? tunnels[0] ?? null;
  const helperRunning = snapshot?.helper.state === 'running';
  const helperRunningRef = useRef(helperRunning);
  useEffect(() => {
    helperRunningRef.current = helperRunning;
    // What was said about the helper being away is stale once it is back.
    if (!helperRunning) return;
    const timer = setTimeout(() => setNotice((n) => (n?.helperDown ? null : n)), 0);
    return () => clearTimeout(timer);
  }, [helperRunning]);

  // Focus where the last action asked, once the page it goes to is drawn.
  useEffect(() => {
    const id = focusNext.current;
    if (id === null) return;
    const element = document.getElementById(id) ?? document.getElementById('page-title');
    if (element) {
      focusNext.current = null;
      element.focus();
    }
  });

  const notify = useCallback((text: string, kind: 'info' | 'error' = 'info') => setNotice({ id: ++noticeIds.current, text, kind }), []);
  useEffect(() => {
    if (notice?.kind !== 'info') return;
    const timer = setTimeout(() => setNotice((n) => (n?.id === notice.id ? null : n)), NOTICE_MS);
    return () => clearTimeout(timer);
  }, [notice]);

  /** Goes to a page (and tunnel); a notice of the page left behind goes with it. */
  const go = useCallback((next: Page, options: { select?: string | null; focus?: string } = {}) => {
    setNotice(null);
    if (options.select !== undefined) setSelected(options.select);
    setPage(next);
    focusNext.current = options.focus ?? (next.kind === 'editor' ? null : 'page-title');
  }, []);

  const pageRef = useRef(page);
  useEffect(() => {
    pageRef.current = page;
  }, [page]);
  /** Runs `action`, after asking, when it would drop unsaved editor text. */
  const guard = useCallback((action: () => void) => {
    const open = pageRef.current;
    if (open.kind === 'editor' && editorDirty.current) {
      setDialog({ kind: 'discard', what: open.mode === 'update' ? `your changes to ${open.name}` : 'this new configuration', then: action });
    } else action();
  }, []);

  const openEditor = useCallback(
    (fields: Omit<Extract<Page, { kind: 'editor' }>, 'kind' | 'id'>) => go({ kind: 'editor', id: ++editorIds, ...fields }),
    [go],
  );

  const importFiles = useCallback(
    async (files: PickedFile[]) => {
      if (!helperRunningRef.current) {
        setNotice({ id: ++noticeIds.current, text: 'Nothing was imported: the Wirelane service is not answering. Try again once it is back.', kind: 'error', helperDown: true });
        return;
      }
      const { candidates, skipped } = await filesToCandidates(files);
      const outcomes = await importCandidates(wirelane, candidates);
      const failed = outcomes.filter((o): o is Extract<ImportOutcome, { ok: false }> => !o.ok);
      const first = outcomes[0];
      if (outcomes.length === 1 && first && first.ok && skipped.length === 0) {
        go({ kind: 'tunnel' }, { select: first.name });
        notify(`Imported ${first.name}.`);
      } else if (outcomes.length === 1 && failed[0] && failed[0].problems.length > 0 && skipped.length === 0) {
        const f = failed[0];
        openEditor({ mode: 'create', name: f.name, text: f.confText, problems: f.problems, heading: `Import ${f.source}`, unsaved: true });
      } else if (outcomes.length === 1 && failed[0] && skipped.length === 0) {
        notify(`${failed[0].source}: ${errorText({ code: 'internal', message: failed[0].message })}`, 'error');
      } else {
        go({ kind: 'import-report', outcomes, skipped });
      }
    },
    [wirelane, go, notify, openEditor],
  );

  const pickFiles = useCallback(async () => {
    const picked = await wirelane.pickImportFiles();
    if (picked.ok) await importFiles(picked.value);
    else if (picked.error.code !== 'cancelled') notify(errorText(picked.error), 'error');
  }, [wirelane, importFiles, notify]);

  const createTunnel = useCallback(async () => {
    const keys = await wirelane.generateKeypair();
    if (!keys.ok) return notify(errorText(keys.error), 'error');
    openEditor({ mode: 'create', name: '', text: newConfTemplate(keys.value.privateKey), problems: [], heading: 'New tunnel', unsaved: true });
    notify(`New key pair generated. Give the peer this public key: ${keys.value.publicKey}`);
  }, [wirelane, notify, openEditor]);

  const editTunnel = useCallback(
    async (name: string) => {
      // The text with its keys "(hidden)": saving it back keeps the stored keys (see updateTunnel).
      const tunnel = await wirelane.getTunnel(name);
      if (!tunnel.ok) return notify(errorText(tunnel.error), 'error');
      openEditor({ mode: 'update', name, text: tunnel.value.confText, problems: [], heading: `Edit ${name}`, unsaved: false });
    },
    [wirelane, notify, openEditor],
  );

  const exportTunnels = useCallback(
    async (names: string[]) => {
      if (names.length === 0) return;
      const result = await wirelane.exportTunnels(names);
      if (result.ok) notify(`Saved ${names.length === 1 ? names[0] : `${names.length} tunnels`} to ${result.value.savedTo}`);
      else if (result.error.code !== 'cancelled') notify(errorText(result.error), 'error');
    },
    [wirelane, notify],
  );

  const canChange = current !== null && !isOn(current.status.status) && page.kind === 'tunnel' && helperRunning;

  // Drag and drop, paste, the tray's import, and the keyboard shortcuts.
  const shortcuts = useRef<(event: KeyboardEvent) => void>(() => {});
  const onShortcut = (event: KeyboardEvent) => {
    if (event.defaultPrevented || document.querySelector('dialog[open]')) return;
    const target = event.target as HTMLElement | null;
    const inText = !!target?.closest('input, textarea, select, [contenteditable="true"]');
    const mod = (event.ctrlKey || event.metaKey) && !event.altKey;
    const key = event.key.toLowerCase();
    if (mod && key === 'o') {
      event.preventDefault();
      if (helperRunning) guard(() => void pickFiles());
    } else if (mod && key === 'n') {
      event.preventDefault();
      if (helperRunning) guard(() => void createTunnel());
    } else if (event.key === 'F2' && canChange) {
      event.preventDefault();
      setDialog({ kind: 'rename', name: current.name });
    } else if (event.key === 'Delete' && !inText && canChange) {
      event.preventDefault();
      setDialog({ kind: 'delete', name: current.name });
    } else if (event.key === 'Escape') {
      if (page.kind === 'editor') {
        event.preventDefault();
        guard(() => go({ kind: 'tunnel' }, { focus: page.mode === 'update' ? 'action-edit' : 'page-title' }));
      } else if (page.kind !== 'tunnel') {
        event.preventDefault();
        go({ kind: 'tunnel' });
      } else if (notice) setNotice(null);
    }
  };
  useEffect(() => {
    shortcuts.current = onShortcut;
  });

  useEffect(() => {
    const controller = new AbortController();
    const signal = controller.signal;
    wirelane.onImportFiles((files) => guard(() => void importFiles(files)), { signal });
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
      if (files && files.length > 0) {
        const list = Array.from(files);
        guard(() => void fileListToPicked(list).then(importFiles));
      }
    };
    const onPaste = (event: ClipboardEvent) => {
      const target = event.target as HTMLElement | null;
      if (target?.closest('input, textarea, [contenteditable="true"]')) return;
      const images = Array.from(event.clipboardData?.files ?? []).filter(isImageFile);
      if (images.length > 0) {
        event.preventDefault();
        guard(() => void fileListToPicked(images).then(importFiles));
        return;
      }
      const text = event.clipboardData?.getData('text/plain') ?? '';
      if (!/\[Interface\]/i.test(text)) return;
      event.preventDefault();
      guard(() => openEditor({ mode: 'create', name: '', text, problems: [], heading: 'Import pasted configuration', unsaved: true }));
    };
    const onKeyDown = (event: KeyboardEvent) => shortcuts.current(event);
    window.addEventListener('dragover', onDragOver, { signal });
    window.addEventListener('dragleave', onDragLeave, { signal });
    window.addEventListener('drop', onDrop, { signal });
    window.addEventListener('paste', onPaste, { signal });
    window.addEventListener('keydown', onKeyDown, { signal });
    return () => controller.abort();
  }, [wirelane, importFiles, guard, openEditor]);

  const onDirtyChange = useCallback((dirty: boolean) => {
    editorDirty.current = dirty;
  }, []);

  if (!snapshot) return <main className="loading">Loading…</main>;
  const names = tunnels.map((t) => t.name);
  const showHelperPage = !helperRunning && page.kind !== 'editor';

  let content: ReactNode;
  if (showHelperPage) {
    content = <HelperState snapshot={snapshot} />;
  } else if (page.kind === 'editor') {
    content = (
      <>
        {!helperRunning && <HelperState snapshot={snapshot} compact />}
        <EditorPage
          key={page.id}
          wirelane={wirelane}
          mode={page.mode}
          initialName={page.name}
          initialText={page.text}
          initialProblems={page.problems}
          heading={page.heading}
          existingNames={names}
          helperRunning={helperRunning}
          unsavedFromStart={page.unsaved}
          onDirtyChange={onDirtyChange}
          onSaved={(name) => {
            go({ kind: 'tunnel' }, { select: name, focus: 'primary-action' });
            notify(`Saved ${name}.`);
          }}
          onCancel={() => guard(() => go({ kind: 'tunnel' }, { focus: page.mode === 'update' ? 'action-edit' : 'page-title' }))}
        />
      </>
    );
  } else if (page.kind === 'import-report') {
    content = (
      <section aria-labelledby="page-title" className="import-report">
        <h2 id="page-title" tabIndex={-1}>
          Import
        </h2>
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
                    onClick={() => openEditor({ mode: 'create', name: outcome.name, text: outcome.confText, problems: outcome.problems, heading: `Import ${outcome.source}`, unsaved: true })}
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
        <button type="button" className="primary" onClick={() => go({ kind: 'tunnel' })}>
          Done
        </button>
      </section>
    );
  } else if (page.kind === 'log') {
    content = <LogPage key={page.name ?? ''} name={page.name} wirelane={wirelane} notify={notify} onBack={() => go({ kind: 'tunnel' }, { focus: page.name === null ? 'open-helper-log' : 'action-log' })} />;
  } else if (page.kind === 'settings') {
    content = (
      <SettingsPage
        wirelane={wirelane}
        appSettings={appSettings}
        tunnels={tunnels}
        helperRunning={helperRunning}
        notify={notify}
        onAppSettings={setAppSettings}
        onBack={() => go({ kind: 'tunnel' }, { focus: 'open-settings' })}
      />
    );
  } else if (current) {
    content = (
      <TunnelPage
        key={current.name}
        tunnel={current}
        rates={rates[current.name] ?? []}
        wirelane={wirelane}
        now={now}
        notify={notify}
        onEdit={() => void editTunnel(current.name)}
        onRename={() => setDialog({ kind: 'rename', name: current.name })}
        onDelete={() => setDialog({ kind: 'delete', name: current.name })}
        onExport={() => void exportTunnels([current.name])}
        onShowLog={() => go({ kind: 'log', name: current.name })}
      />
    );
  } else {
    content = (
      <section className="empty" aria-labelledby="page-title">
        <h2 id="page-title" tabIndex={-1}>
          No tunnels yet
        </h2>
        <p>Add the WireGuard configuration your VPN provider or administrator gave you.</p>
        <div className="empty-actions">
          <button type="button" className="primary big" onClick={() => void pickFiles()} aria-keyshortcuts="Control+O">
            Import tunnel from file…
          </button>
          <button type="button" className="big secondary" onClick={() => void createTunnel()} aria-keyshortcuts="Control+N">
            Create a new tunnel
          </button>
        </div>
        <p className="muted">You can also drop .conf, .zip or QR code images on this window, or paste a configuration or a QR code image.</p>
      </section>
    );
  }

  return (
    <div className={`app ${dragging ? 'dragging' : ''}`}>
      <ProtectionBanner tunnels={tunnels} helperRunning={helperRunning} now={now} />
      <div className="body">
        <nav className="sidebar" aria-label="Tunnels">
          <h1>Wirelane</h1>
          <div className="sidebar-list">
            {helperRunning && (
              <TunnelList
                tunnels={tunnels}
                selected={current?.name ?? null}
                onSelect={(name) => guard(() => go({ kind: 'tunnel' }, { select: name, focus: `tunnel-item-${name}` }))}
              />
            )}
          </div>
          <div className="sidebar-actions">
            <button type="button" onClick={() => guard(() => void pickFiles())} disabled={!helperRunning} title="Import (Ctrl+O)" aria-keyshortcuts="Control+O">
              Import…
            </button>
            <button type="button" onClick={() => guard(() => void createTunnel())} disabled={!helperRunning} title="New tunnel (Ctrl+N)" aria-keyshortcuts="Control+N">
              New tunnel
            </button>
            <button type="button" onClick={() => void exportTunnels(names)} disabled={!helperRunning || names.length === 0} title="Save every tunnel in one .zip">
              Export all…
            </button>
            <div className="sidebar-row">
              <button type="button" id="open-helper-log" onClick={() => guard(() => go({ kind: 'log', name: null }))} disabled={!helperRunning}>
                Helper log
              </button>
              <button type="button" id="open-settings" onClick={() => guard(() => go({ kind: 'settings' }))}>
                Settings
              </button>
            </div>
          </div>
        </nav>
        <main className="content">
          {notice && (
            <div className={`notice notice-${notice.kind}`} role={notice.kind === 'error' ? 'alert' : 'status'} data-testid="notice">
              <span>{notice.text}</span>
              <button type="button" className="small" onClick={() => setNotice(null)} aria-label="Dismiss">
                ×
              </button>
            </div>
          )}
          {content}
        </main>
      </div>
      {dialog?.kind === 'delete' && (
        <DeleteDialog
          name={dialog.name}
          wirelane={wirelane}
          onClose={(deleted) => {
            setDialog(null);
            if (deleted) {
              go({ kind: 'tunnel' }, { select: null });
              notify(`Deleted ${dialog.name}.`);
            }
          }}
        />
      )}
      {dialog?.kind === 'rename' && (
        <RenameDialog
          name={dialog.name}
          existingNames={names}
          wirelane={wirelane}
          onClose={(renamed) => {
            setDialog(null);
            if (renamed) {
              go({ kind: 'tunnel' }, { select: renamed, focus: 'action-rename' });
              notify(`Renamed ${dialog.name} to ${renamed}.`);
            }
          }}
        />
      )}
      {dialog?.kind === 'discard' && (
        <Modal labelledBy="discard-title" describedBy="discard-text" role="alertdialog" onCancel={() => setDialog(null)} testId="discard-dialog">
          <h2 id="discard-title">Discard {dialog.what}?</h2>
          <p id="discard-text">What you typed has not been saved.</p>
          <div className="actions">
            <button type="button" data-autofocus onClick={() => setDialog(null)}>
              Keep editing
            </button>
            <button
              type="button"
              className="danger"
              onClick={() => {
                editorDirty.current = false;
                setDialog(null);
                dialog.then();
              }}
            >
              Discard
            </button>
          </div>
        </Modal>
      )}
    </div>
  );
}

function DeleteDialog({ name, wirelane, onClose }: { name: string; wirelane: WirelaneApi; onClose: (deleted: boolean) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const remove = async () => {
    setBusy(true);
    const result = await wirelane.deleteTunnel(name);
    setBusy(false);
    if (result.ok) onClose(true);
    else setError(errorText(result.error));
  };
  return (
    <Modal labelledBy="delete-title" describedBy="delete-text" role="alertdialog" onCancel={() => onClose(false)} testId="delete-dialog">
      <h2 id="delete-title">Delete {name}?</h2>
      <p id="delete-text">Its configuration and keys are removed from this computer. Export it first to keep a copy.</p>
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="button" data-autofocus onClick={() => onClose(false)}>
          Cancel
        </button>
        <button type="button" className="danger solid" aria-disabled={busy} onClick={() => void (busy ? undefined : remove())}>
          Delete
        </button>
      </div>
    </Modal>
  );
}

function RenameDialog({ name, existingNames, wirelane, onClose }: { name: string; existingNames: readonly string[]; wirelane: WirelaneApi; onClose: (renamed: string | null) => void }) {
  const [to, setTo] = useState(name);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const problem = to === name ? null : nameProblem(to, existingNames, 'create');
  const submit = async () => {
    if (to === name) return onClose(null);
    if (problem || busy) return;
    setBusy(true);
    const result = await wirelane.renameTunnel(name, to);
    setBusy(false);
    if (result.ok) onClose(result.value.name);
    else if (result.error.code === 'already_exists') setError(`A tunnel named ${to} exists already: choose another name.`);
    else if (result.error.code === 'bad_arguments') setError('Use 1–15 letters, digits or _ = + . - (no spaces)');
    else setError(errorText(result.error));
  };
  const shown = problem ?? error;
  return (
    <Modal labelledBy="rename-title" onCancel={() => onClose(null)} testId="rename-dialog">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <h2 id="rename-title">Rename {name}</h2>
        <label className="field">
          <span>New name</span>
          <input
            data-autofocus
            value={to}
            onChange={(e) => {
              setTo(e.target.value);
              setError(null);
            }}
            spellCheck={false}
            aria-invalid={shown !== null}
            aria-describedby="rename-help"
          />
        </label>
        <p id="rename-help" className={shown ? 'error-text' : 'muted'} aria-live="polite">
          {shown ?? 'Also the network interface’s name.'}
        </p>
        <div className="actions">
          <button type="button" onClick={() => onClose(null)}>
            Cancel
          </button>
          <button type="submit" className="primary" aria-disabled={problem !== null || busy}>
            Rename
          </button>
        </div>
      </form>
    </Modal>
  );
}
