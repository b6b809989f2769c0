/**
 * Writing a configuration: a new tunnel (from a generated key pair), an existing one, or an
 * import the helper refused. While the person types, the helper checks the text (`validateConf`,
 * 300 ms after the last keystroke; nothing is stored) and its line-numbered problems show in the
 * editor; the name is checked as it is typed too (its form, and that no stored tunnel has it).
 * Saving (the button or Ctrl+S) sends the text to the helper, which checks it again; the store
 * changes only when it accepts. An existing tunnel's keys stay "(hidden)": saving keeps the
 * stored ones. The page tells the window whether it holds unsaved work, so nothing leaving it
 * (Cancel, Escape, another tunnel, an import) drops that work without asking; and it stays up
 * while the helper is away, with Save waiting for it.
 */
import { useEffect, useRef, useState } from 'react';
import type { ConfProblem, WirelaneApi } from '../contract.js';
import { isValidTunnelName } from '../../../engine/conf/import-bundle.js';
import { errorText } from '../api.js';
import { ConfEditor } from './ConfEditor.js';

export interface EditorPageProps {
  wirelane: WirelaneApi;
  /** 'create' stores a new tunnel; 'update' replaces an existing one's text. */
  mode: 'create' | 'update';
  initialName: string;
  initialText: string;
  initialProblems?: readonly ConfProblem[];
  /** Shown above the editor, e.g. where an import came from. */
  heading: string;
  /** Names of the stored tunnels, for the duplicate check while typing a new name. */
  existingNames: readonly string[];
  /** Whether the helper answers now; Save waits for it. */
  helperRunning: boolean;
  /** The text came from outside (a file, a paste, a fresh key pair): unsaved from the start. */
  unsavedFromStart: boolean;
  onDirtyChange: (dirty: boolean) => void;
  onSaved: (name: string) => void;
  onCancel: () => void;
}

/** How long typing must pause before the helper checks the text. */
export const VALIDATE_DEBOUNCE_MS = 300;

interface Flags {
  hasScripts: boolean;
  fullTunnel: boolean;
}

/** What is wrong with a name for a new tunnel, or null. */
export function nameProblem(name: string, existingNames: readonly string[], mode: 'create' | 'update'): string | null {
  if (mode === 'update') return null;
  if (name === '') return 'Give the tunnel a name: 1–15 letters, digits or _ = + . -';
  if (!isValidTunnelName(name)) return 'Use 1–15 letters, digits or _ = + . - (no spaces)';
  if (existingNames.includes(name)) return `A tunnel named ${name} exists already: choose another name.`;
  return null;
}

export function EditorPage(props: EditorPageProps) {
  const [name, setName] = useState(props.initialName);
  const [text, setText] = useState(props.initialText);
  const [problems, setProblems] = useState<readonly ConfProblem[]>(props.initialProblems ?? []);
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [flags, setFlags] = useState<Flags | null>(null);
  const { wirelane, mode, existingNames, helperRunning, onDirtyChange } = props;
  const badName = nameProblem(name, existingNames, mode);
  // Only the newest check may set the problems: an older reply arriving late is dropped.
  const checkNumber = useRef(0);
  const storedName = mode === 'update' ? props.initialName : null;
  const dirty = props.unsavedFromStart || text !== props.initialText || name !== props.initialName;
  const canSave = badName === null && !saving && helperRunning;

  useEffect(() => {
    onDirtyChange(dirty);
  }, [dirty, onDirtyChange]);
  // Leaving the page (saved or discarded) leaves nothing unsaved behind.
  useEffect(() => () => onDirtyChange(false), [onDirtyChange]);

  useEffect(() => {
    const number = ++checkNumber.current;
    const timer = setTimeout(() => {
      const check = storedName === null ? wirelane.validateConf(text) : wirelane.validateConf(text, storedName);
      void check.then((result) => {
        if (number !== checkNumber.current) return;
        // Without an answer (helper gone) the last problems stay; saving will say what is wrong.
        if (!result.ok) return;
        // The linter's warnings (severity 'warning') show beside the errors, marked as warnings.
        setProblems([...result.value.problems, ...(result.value.warnings ?? [])]);
        setFlags(result.value.problems.length === 0 ? { hasScripts: result.value.hasScripts, fullTunnel: result.value.fullTunnel } : null);
        if (result.value.problems.length === 0) setError(null);
      });
    }, VALIDATE_DEBOUNCE_MS);
    return () => clearTimeout(timer);
    // helperRunning: check again once the helper is back.
  }, [text, wirelane, storedName, helperRunning]);

  const save = async () => {
    if (!canSave) {
      if (!helperRunning) setError('The Wirelane service is not answering: your text is kept here; save once it is back.');
      return;
    }
    setSaving(true);
    setError(null);
    const result = mode === 'create' ? await wirelane.importTunnel(name, text) : await wirelane.updateTunnel(name, text);
    setSaving(false);
    if (result.ok) {
      onDirtyChange(false);
      props.onSaved(result.value.name);
      return;
    }
    if (result.error.code === 'invalid_config') {
      setProblems(result.error.problems ?? [{ line: 0, message: result.error.message }]);
      setError('The helper found problems in this configuration; nothing was saved.');
    } else if (result.error.code === 'already_exists') {
      setError(`A tunnel named ${name} exists already: choose another name.`);
    } else {
      setError(errorText(result.error));
    }
  };
  const saveRef = useRef(save);
  useEffect(() => {
    saveRef.current = save;
  });

  // Ctrl+S (Cmd+S) saves from anywhere on the page, the editor included.
  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === 's') {
        event.preventDefault();
        if (!document.querySelector('dialog[open]')) void saveRef.current();
      }
    };
    window.addEventListener('keydown', onKeyDown);
    return () => window.removeEventListener('keydown', onKeyDown);
  }, []);

  const nameFirst = mode === 'create' && (props.initialName === '' || badName !== null);

  return (
    <section className="editor-page" aria-labelledby="page-title">
      <h2 id="page-title" tabIndex={-1}>
        {props.heading}
      </h2>
      <div className="editor-name">
        <label className="field">
          <span>Name</span>
          <input
            value={name}
            onChange={(e) => setName(e.target.value)}
            readOnly={mode === 'update'}
            aria-invalid={badName !== null}
            aria-describedby="name-help"
            spellCheck={false}
            autoFocus={nameFirst}
            data-testid="tunnel-name"
          />
        </label>
        <p id="name-help" className={badName ? 'error-text' : 'muted'} aria-live="polite">
          {badName ?? (mode === 'update' ? 'Rename the tunnel from its page.' : 'Also the network interface’s name.')}
        </p>
      </div>
      <ConfEditor value={text} onChange={setText} problems={problems} label={`Configuration of ${name || 'the new tunnel'}`} autoFocus={!nameFirst} />
      {flags && (flags.fullTunnel || flags.hasScripts) && (
        <ul className="conf-flags" aria-label="What this configuration does">
          {flags.fullTunnel && <li>All traffic goes through this tunnel (its AllowedIPs cover a whole address family).</li>}
          {flags.hasScripts && <li>It has PreUp/PostUp/PreDown/PostDown commands: they run only once an administrator approves them for this tunnel, and any edit of them voids the approval.</li>}
        </ul>
      )}
      {mode === 'update' && /\(hidden\)/.test(text) && <p className="muted">Keys shown as (hidden) keep their stored values when you save.</p>}
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button
          type="button"
          className="primary"
          aria-disabled={!canSave}
          title={!helperRunning ? 'Waiting for the Wirelane service' : 'Save (Ctrl+S)'}
          onClick={() => void save()}
        >
          {saving ? 'Saving…' : 'Save'}
        </button>
      </div>
    </section>
  );
}
