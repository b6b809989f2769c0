import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { ConfEditor } from '../../renderer/src/components/ConfEditor.js';
import { EditorPage } from '../../renderer/src/components/EditorPage.js';
import type { WirelaneApi } from '../../main/ipc-schema.js';

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

  it('highlights sections, keys and comments', () => {
    const { container } = render(<ConfEditor value={'# home\n[Peer]\nEndpoint = 192.0.2.1:51820\n'} onChange={() => {}} label="Configuration" problems={[]} />);
    expect(container.querySelector('.tok-comment')?.textContent).toBe('# home');
    expect(container.querySelector('.tok-section')?.textContent).toBe('[Peer]');
    expect(container.querySelector('.tok-key')?.textContent).toBe('Endpoint');
  });
});

describe('EditorPage', () => {
  it('saving a file the helper refuses shows its line-numbered problems; editing clears them', async () => {
    const importTunnel = vi.fn(async () => ({
      ok: false as const,
      error: { code: 'invalid_config' as const, message: 'the configuration has problems', problems: [{ line: 3, message: "Addres: unknown key 'Addres'" }] },
    }));
    const onSaved = vi.fn();
    render(
      <EditorPage wirelane={{ importTunnel } as unknown as WirelaneApi} mode="create" initialName="broken" initialText={text} heading="Import" onSaved={onSaved} onCancel={() => {}} />,
    );
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Save' })));
    expect(importTunnel).toHaveBeenCalledWith('broken', text);
    expect(screen.getByRole('alert', { name: 'Problems in this configuration' }).textContent).toContain("Line 3: Addres: unknown key 'Addres'");
    expect(screen.getByText(/nothing was saved/)).toBeTruthy();
    expect(onSaved).not.toHaveBeenCalled();
  });

  it('refuses a name the helper would refuse before asking it', () => {
    const importTunnel = vi.fn();
    render(<EditorPage wirelane={{ importTunnel } as unknown as WirelaneApi} mode="create" initialName="my office!" initialText={text} heading="New" onSaved={() => {}} onCancel={() => {}} />);
    expect((screen.getByRole('button', { name: 'Save' }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByText('Use 1–15 letters, digits or _ = + . -')).toBeTruthy();
  });
});
