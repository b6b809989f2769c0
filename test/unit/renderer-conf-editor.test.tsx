import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { ConfEditor } from '../../renderer/src/components/ConfEditor.js';
import { EditorPage } from '../../renderer/src/components/EditorPage.js';
import type { WirelaneApi } from '../../main/ipc-schema.js';
import { EditorView } from '@codemirror/view';

afterEach(cleanup);

const text = '[Interface]\nPrivateKey = abc\nAddres = 10.0.0.9/32\n\n[Peer]\nAllowedIPs = 10.0.0.300/32\n';

describe('ConfEditor', () => {
  it('shows each helper problem with its line, in a list and as a mark on that line', async () => {
    const { container } = render(
      <ConfEditor value={text} onChange={() => {}} label="Configuration" problems={[{ line: 3, message: "Addres: unknown key 'Addres'" }, { line: 6, message: 'not a valid CIDR' }]} />,
    );
    const list = screen.getByRole('alert', { name: 'Problems in this configuration' });
    expect(list.textContent).toContain("Line 3: Addres: unknown key 'Addres'");
    expect(list.textContent).toContain('Line 6: not a valid CIDR');
    await waitFor(() => expect(container.querySelectorAll('.cm-lintRange-error').length).toBe(2));
    const marked = [...container.querySelectorAll('.cm-lintRange-error')].map((el) => el.closest('.cm-line')?.textContent);
    expect(marked).toEqual(['Addres = 10.0.0.9/32', 'AllowedIPs = 10.0.0.300/32']);
  });

  it('shows no problem list for a clean file, and file-wide problems as "File:"', () => {
    const { rerender } = render(<ConfEditor value={text} onChange={() => {}} label="Configuration" problems={[]} />);
    expect(screen.queryByRole('alert')).toBeNull();
    rerender(<ConfEditor value={text} onChange={() => {}} label="Configuration" problems={[{ line: 0, message: 'no [Interface] section' }]} />);
    expect(screen.getByRole('alert').textContent).toBe('File: no [Interface] section');
  });

  it('shows the linter\'s warnings marked as warnings, apart from errors', async () => {
    const { container } = render(
      <ConfEditor
        value={text}
        onChange={() => {}}
        label="Configuration"
        problems={[
          { line: 3, message: "Addres: unknown key 'Addres'" },
          { line: 6, message: 'AllowedIPs: all IPv4 traffic goes through the tunnel but IPv6 does not', severity: 'warning' },
        ]}
      />,
    );
    const items = [...screen.getByRole('alert', { name: 'Problems in this configuration' }).querySelectorAll('li')].map((li) => li.textContent);
    expect(items).toEqual(["Line 3: Addres: unknown key 'Addres'", 'Warning, Line 6: AllowedIPs: all IPv4 traffic goes through the tunnel but IPv6 does not']);
    await waitFor(() => expect(container.querySelectorAll('.cm-lintRange-warning').length).toBe(1));
    expect(container.querySelector('.cm-lintRange-warning')?.closest('.cm-line')?.textContent).toBe('AllowedIPs = 10.0.0.300/32');
    expect(container.querySelectorAll('.cm-lintRange-error').length).toBe(1);
  });

  it('highlights sections, keys and comments', () => {
    const { container } = render(<ConfEditor value={'# home\n[Peer]\nEndpoint = 192.0.2.1:51820\n'} onChange={() => {}} label="Configuration" problems={[]} />);
    expect(container.querySelector('.tok-comment')?.textContent).toBe('# home');
    expect(container.querySelector('.tok-section')?.textContent).toBe('[Peer]');
    expect(container.querySelector('.tok-key')?.textContent).toBe('Endpoint');
  });
});

/** validateConf answering every text with nothing wrong. */
/** What the window passes every editor page besides the text. */
const common = { existingNames: ['office'], helperRunning: true, unsavedFromStart: false, onDirtyChange: () => {} };

const noProblems = () => vi.fn(async () => ({ ok: true as const, value: { problems: [], hasScripts: false, fullTunnel: false } }));

describe('EditorPage', () => {
  it('saving a file the helper refuses shows its line-numbered problems', async () => {
    const importTunnel = vi.fn(async () => ({
      ok: false as const,
      error: { code: 'invalid_config' as const, message: 'the configuration has problems', problems: [{ line: 3, message: "Addres: unknown key 'Addres'" }] },
    }));
    const onSaved = vi.fn();
    render(
      <EditorPage wirelane={{ importTunnel, validateConf: vi.fn(() => new Promise(() => {})) } as unknown as WirelaneApi} mode="create" initialName="broken" initialText={text} heading="Import" onSaved={onSaved} onCancel={() => {}} {...common} />,
    );
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Save' })));
    expect(importTunnel).toHaveBeenCalledWith('broken', text);
    expect(screen.getByRole('alert', { name: 'Problems in this configuration' }).textContent).toContain("Line 3: Addres: unknown key 'Addres'");
    expect(screen.getByText(/nothing was saved/)).toBeTruthy();
    expect(onSaved).not.toHaveBeenCalled();
  });

  it('refuses a name the helper would refuse before asking it', () => {
    const importTunnel = vi.fn();
 render(<EditorPage wirelane={{ importTunnel, validateConf: noProblems() } as unknown as WirelaneApi} mode="create" initialName="my office!" initialText={text} heading="New" onSaved={() => {}} onCancel={() => {}} {...common} />);
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(screen.getByRole('button', { name: 'Save' }).getAttribute('aria-disabled')).toBe('true');
    expect(importTunnel).not.toHaveBeenCalled();
    expect(screen.getByText('Use 1–15 letters, digits or _ = + . - (no spaces)')).toBeTruthy();
  });

  it('says while the name is typed that a stored tunnel has it already, before any save', () => {
    const importTunnel = vi.fn();
    render(<EditorPage wirelane={{ importTunnel, validateConf: noProblems() } as unknown as WirelaneApi} mode="create" initialName="" initialText={text} heading="New" onSaved={() => {}} onCancel={() => {}} {...common} />);
    fireEvent.change(screen.getByTestId('tunnel-name'), { target: { value: 'office' } });
    expect(screen.getByText('A tunnel named office exists already: choose another name.')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(importTunnel).not.toHaveBeenCalled();
    fireEvent.change(screen.getByTestId('tunnel-name'), { target: { value: 'office2' } });
    expect(screen.queryByText(/exists already/)).toBeNull();
  });

  it('reports unsaved work: an edited text, or text that came from outside', () => {
    const dirty: boolean[] = [];
    const onDirtyChange = (d: boolean) => void dirty.push(d);
    const { container, unmount } = render(
      <EditorPage wirelane={{ validateConf: noProblems() } as unknown as WirelaneApi} mode="update" initialName="office" initialText={text} heading="Edit" onSaved={() => {}} onCancel={() => {}} {...common} onDirtyChange={onDirtyChange} />,
    );
    expect(dirty.at(-1)).toBe(false);
    const view = EditorView.findFromDOM(container.querySelector('.cm-editor') as HTMLElement)!;
    // happy-dom's selection events trip CodeMirror while it holds focus; a person's typing does not.
    (document.activeElement as HTMLElement | null)?.blur();
    act(() => view.dispatch({ changes: { from: 0, insert: '# note\n' } }));
    expect(dirty.at(-1)).toBe(true);
    unmount();
    expect(dirty.at(-1)).toBe(false);
  });

  it('keeps the text while the helper is away, and Save waits for it', async () => {
    const importTunnel = vi.fn();
    render(<EditorPage wirelane={{ importTunnel, validateConf: noProblems() } as unknown as WirelaneApi} mode="create" initialName="lab" initialText={text} heading="New" onSaved={() => {}} onCancel={() => {}} {...common} helperRunning={false} />);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Save' })));
    expect(importTunnel).not.toHaveBeenCalled();
    expect(screen.getByRole('alert').textContent).toMatch(/not answering: your text is kept here/);
  });
});

describe('EditorPage live validation', () => {
  afterEach(() => vi.useRealTimers());

  function editorView(container: HTMLElement): EditorView {
    const view = EditorView.findFromDOM(container.querySelector('.cm-editor') as HTMLElement);
    if (!view) throw new Error('no CodeMirror view');
    return view;
  }

  /** Types into CodeMirror the way a person does: a change of its document. */
  function typeAtEnd(container: HTMLElement, insert: string) {
    const view = editorView(container);
    act(() => view.dispatch({ changes: { from: view.state.doc.length, insert } }));
  }

  it('checks the text 300 ms after typing stops, shows the helper’s problems by line, and clears them once fixed', async () => {
    vi.useFakeTimers();
    const good = '[Interface]\nPrivateKey = (hidden)\nAddress = 10.0.0.9/32\n';
    const validateConf = vi.fn(async (confText: string) =>
      confText.includes('Addres =')
        ? { ok: true as const, value: { problems: [{ line: 4, message: "Addres: unknown key 'Addres'" }], hasScripts: false, fullTunnel: false } }
        : { ok: true as const, value: { problems: [], hasScripts: false, fullTunnel: confText.includes('0.0.0.0/0') } },
    );
    const { container } = render(
      <EditorPage wirelane={{ validateConf } as unknown as WirelaneApi} mode="update" initialName="office" initialText={good} heading="Edit office" onSaved={() => {}} onCancel={() => {}} {...common} />,
    );
    // The loaded text is checked once, against the stored tunnel (its keys are "(hidden)").
    await act(async () => vi.advanceTimersByTimeAsync(300));
    expect(validateConf).toHaveBeenCalledTimes(1);
    expect(validateConf).toHaveBeenLastCalledWith(good, 'office');
    expect(screen.getByText('Keys shown as (hidden) keep their stored values when you save.')).toBeTruthy();

    // Typing a bad line: nothing is asked until typing pauses for 300 ms, then one check.
    typeAtEnd(container, 'Addres');
    await act(async () => vi.advanceTimersByTimeAsync(150));
    typeAtEnd(container, ' = 10.0.0.1\n');
    await act(async () => vi.advanceTimersByTimeAsync(299));
    expect(validateConf).toHaveBeenCalledTimes(1);
    await act(async () => vi.advanceTimersByTimeAsync(1));
    expect(validateConf).toHaveBeenCalledTimes(2);
    expect(validateConf).toHaveBeenLastCalledWith(`${good}Addres = 10.0.0.1\n`, 'office');
    expect(screen.getByRole('alert', { name: 'Problems in this configuration' }).textContent).toBe("Line 4: Addres: unknown key 'Addres'");
    await act(async () => vi.advanceTimersByTimeAsync(0));
    expect([...container.querySelectorAll('.cm-lintRange-error')].map((el) => el.closest('.cm-line')?.textContent)).toEqual(['Addres = 10.0.0.1']);

    // Fixing it (and routing everything) clears the problems and says what the file does.
    typeAtEnd(container, '\n[Peer]\nAllowedIPs = 0.0.0.0/0\n');
    const view = editorView(container);
    act(() => view.dispatch({ changes: { from: view.state.doc.toString().indexOf('Addres ='), to: view.state.doc.toString().indexOf('Addres =') + 6, insert: 'Address' } }));
    await act(async () => vi.advanceTimersByTimeAsync(300));
    expect(screen.queryByRole('alert', { name: 'Problems in this configuration' })).toBeNull();
    expect(screen.getByRole('list', { name: 'What this configuration does' }).textContent).toContain('All traffic goes through this tunnel');
  });

  it('a late reply to an older text never overwrites the check of the newer one', async () => {
    vi.useFakeTimers();
    const replies: ((value: unknown) => void)[] = [];
    const validateConf = vi.fn(() => new Promise((resolve) => replies.push(resolve)));
    const { container } = render(
      <EditorPage wirelane={{ validateConf } as unknown as WirelaneApi} mode="create" initialName="new" initialText={text} heading="New" onSaved={() => {}} onCancel={() => {}} {...common} />,
    );
    await act(async () => vi.advanceTimersByTimeAsync(300));
    expect(validateConf).toHaveBeenLastCalledWith(text);
    typeAtEnd(container, '# more\n');
    await act(async () => vi.advanceTimersByTimeAsync(300));
    expect(replies).toHaveLength(2);
    await act(async () => replies[1]!({ ok: true, value: { problems: [], hasScripts: false, fullTunnel: false } }));
    await act(async () => replies[0]!({ ok: true, value: { problems: [{ line: 3, message: 'stale' }], hasScripts: false, fullTunnel: false } }));
    expect(screen.queryByText(/stale/)).toBeNull();
  });
});
