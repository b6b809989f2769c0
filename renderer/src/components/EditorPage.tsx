/**
 * Writing a configuration: a new tunnel (from a generated key pair), an existing one, or an
 * import the helper refused. While the person types, the helper checks the text (`validateConf`,
 * 300 ms after the last keystroke; nothing is stored) and its line-numbered problems show in the
 * editor. Saving sends the text to the helper, which checks it again; the store changes only
 * when it accepts. An existing tunnel's keys stay "(hidden)": saving keeps the stored ones.
 */
import type { ConfProblem, WirelaneApi } from '../contract.js';
import { useEffect, useRef, useState } from 'react';
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
  onSaved: (name: string) => void;
  onCancel: () => void;
}

/** How long typing must pause before the helper checks the text. */
export const VALIDATE_DEBOUNCE_MS = 300;

interface Flags {
  hasScripts: boolean;
  fullTunnel: boolean;
}

export function EditorPage(props: EditorPageProps) {
  const [name, setName] = useState(props.initialName);
  const [text, setText] = useState(props.initialText);
  const [problems, setProblems] = useState<readonly ConfProblem[]>(props.initialProblems ?? []);
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [flags, setFlags] = useState<Flags | null>(null);
  const nameOk = isValidTunnelName(name);
  // Only the newest check may set the problems: an older reply arriving late is dropped.
  const checkNumber = useRef(0);
  const { wirelane, mode } = props;
  const storedName = mode === 'update' ? props.initialName : null;

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
  }, [text, wirelane, storedName]);

  const save = async () => {
    setSaving(true);
    setError(null);
    const result = props.mode === 'create' ? await props.wirelane.importTunnel(name, text) : await props.wirelane.updateTunnel(name, text);
    setSaving(false);
    if (result.ok) {
      props.onSaved(result.value.name);
      return;
    }
    if (result.error.code === 'invalid_config') {
      setProblems(result.error.problems ?? [{ line: 0, message: result.error.message }]);
      setError('The helper found problems in this configuration; nothing was saved.');
    } else {
      setError(errorText(result.error));
    }
  };

  // The shown problems stay until the check of the new text replaces them (CodeMirror moves
  // their marks along with the edits), so they do not flicker away and back while typing.
  const onChange = (next: string) => setText(next);

  return (
    <section className="editor-page" aria-labelledby="editor-title">
      <h2 id="editor-title">{props.heading}</h2>
      <label className="field">
        <span>Name</span>
        <input
          value={name}
          onChange={(e) => setName(e.target.value)}
          readOnly={props.mode === 'update'}
          aria-invalid={!nameOk}
          aria-describedby="name-help"
          spellCheck={false}
        />
      </label>
      <p id="name-help" className={nameOk ? 'muted' : 'error-text'}>
        {nameOk ? 'Also the network interface’s name.' : 'Use 1–15 letters, digits or _ = + . -'}
      </p>
      <ConfEditor value={text} onChange={onChange} problems={problems} label={`Configuration of ${name || 'the new tunnel'}`} />
      {flags && (flags.fullTunnel || flags.hasScripts) && (
        <ul className="conf-flags" aria-label="What this configuration does">
          {flags.fullTunnel && <li>All traffic goes through this tunnel (AllowedIPs has 0.0.0.0/0 or ::/0).</li>}
          {flags.hasScripts && <li>It has PreUp/PostUp/PreDown/PostDown commands: they run only where an administrator has allowed scripts.</li>}
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
        <button type="button" className="primary" disabled={!nameOk || saving} onClick={() => void save()}>
          {saving ? 'Saving…' : 'Save'}
        </button>
      </div>
    </section>
  );
}
