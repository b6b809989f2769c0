/**
 * Writing a configuration: a new tunnel (from a generated key pair), an existing one, or an
 * import the helper refused. Saving sends the text to the helper, which checks it; its
 * line-numbered problems come back into the editor. The store changes only when it accepts.
 */
import { useState } from 'react';
import type { ConfProblem } from '../../../engine/helper/protocol.js';
import type { WirelaneApi } from '../../../main/ipc-schema.js';
import { isValidTunnelName } from '../../../main/import-bundle.js';
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

export function EditorPage(props: EditorPageProps) {
  const [name, setName] = useState(props.initialName);
  const [text, setText] = useState(props.initialText);
  const [problems, setProblems] = useState<readonly ConfProblem[]>(props.initialProblems ?? []);
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const nameOk = isValidTunnelName(name);

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

  const onChange = (next: string) => {
    setText(next);
    // The problems were found in the old text; they are stale once it changes.
    if (problems.length > 0) setProblems([]);
  };

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
