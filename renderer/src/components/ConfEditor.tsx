/**
 * The .conf editor: CodeMirror 6 with wg-quick highlighting, and the helper's line-numbered
 * problems (errors, and the linter's warnings marked as such) shown twice — as lint marks on their lines and as a list under the editor that a
 * screen reader announces. Problems belong to the text they were found in: editing clears them
 * until the next check.
 */
import type { ConfProblem } from '../contract.js';
import { useEffect, useLayoutEffect, useRef } from 'react';
import { EditorState } from '@codemirror/state';
import { EditorView, keymap, lineNumbers, highlightActiveLine } from '@codemirror/view';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { HighlightStyle, StreamLanguage, syntaxHighlighting } from '@codemirror/language';
import { lintGutter, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import { tags } from '@lezer/highlight';

/** Tokens of a wg-quick file: [Section], Key = value, # comment. */
const wgConf = StreamLanguage.define<{ afterEquals: boolean }>({
  name: 'wireguard-conf',
  startState: () => ({ afterEquals: false }),
  token(stream, state) {
    if (stream.sol()) state.afterEquals = false;
    if (stream.eatSpace()) return null;
    if (stream.match('#')) {
      stream.skipToEnd();
      return 'comment';
    }
    if (stream.sol() && stream.match(/^\[[^\]]*\]/)) return 'heading';
    if (!state.afterEquals) {
      if (stream.match(/^[A-Za-z]+(?=\s*=)/)) return 'propertyName';
      if (stream.match('=')) {
        state.afterEquals = true;
        return 'operator';
      }
    }
    if (state.afterEquals && stream.match(/^[^#]+/)) return 'string';
    stream.next();
    return null;
  },
});

const confHighlight = HighlightStyle.define([
  { tag: tags.heading, class: 'tok-section' },
  { tag: tags.propertyName, class: 'tok-key' },
  { tag: tags.string, class: 'tok-value' },
  { tag: tags.comment, class: 'tok-comment' },
  { tag: tags.operator, class: 'tok-operator' },
]);

/** The helper's problems as CodeMirror diagnostics, each spanning its whole line. */
export function problemsToDiagnostics(state: EditorState, problems: readonly ConfProblem[]): Diagnostic[] {
  return problems.map((problem) => {
    const lineNumber = Math.min(Math.max(problem.line, 1), state.doc.lines);
    const line = state.doc.line(lineNumber);
    const severity = problem.severity === 'warning' ? 'warning' : 'error';
    return { from: line.from, to: Math.max(line.to, line.from), severity, message: problem.message, source: 'Wirelane helper' };
  });
}

export interface ConfEditorProps {
  value: string;
  onChange: (text: string) => void;
  problems: readonly ConfProblem[];
  label: string;
  /** Put the caret in the editor when it appears. */
  autoFocus?: boolean;
}

export function ConfEditor({ value, onChange, problems, label, autoFocus = false }: ConfEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  // The editor's listener calls the latest onChange; updated before any effect below runs.
  useLayoutEffect(() => {
    onChangeRef.current = onChange;
  }, [onChange]);

  useEffect(() => {
    if (!host.current) return;
    const created = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          lineNumbers(),
          history(),
          highlightActiveLine(),
          keymap.of([...defaultKeymap, ...historyKeymap]),
          wgConf,
          syntaxHighlighting(confHighlight),
          lintGutter(),
          EditorView.lineWrapping,
          EditorView.contentAttributes.of({ 'aria-label': label, 'aria-multiline': 'true' }),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) onChangeRef.current(update.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = created;
    if (autoFocus) created.focus();
    return () => {
      created.destroy();
      view.current = null;
    };
    // The editor is created once; later `value` changes from outside are applied below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const current = view.current;
    if (current && current.state.doc.toString() !== value) {
      current.dispatch({ changes: { from: 0, to: current.state.doc.length, insert: value } });
    }
  }, [value]);

  useEffect(() => {
    const current = view.current;
    if (current) current.dispatch(setDiagnostics(current.state, problemsToDiagnostics(current.state, problems)));
  }, [problems]);

  return (
    <div className="conf-editor">
      <div ref={host} className="conf-editor-host" />
      {problems.length > 0 && (
        // The alert wraps the list: role="alert" on the <ul> itself would hide its list semantics.
        <div role="alert" aria-label="Problems in this configuration">
          <ul className="problems">
            {problems.map((problem, index) => (
              <li key={index} className={problem.severity === 'warning' ? 'warning' : undefined}>
                {problem.severity === 'warning' && 'Warning, '}
                {problem.line > 0 ? <strong>Line {problem.line}:</strong> : <strong>File:</strong>} {problem.message}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}
