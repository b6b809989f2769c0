/** The list of tunnels with their live state; arrow keys move between them. */
import type { TunnelSummary } from '../contract.js';
import type { KeyboardEvent } from 'react';
import { stateLabel } from '../tunnel-state.js';

export interface TunnelListProps {
  tunnels: readonly TunnelSummary[];
  selected: string | null;
  onSelect: (name: string) => void;
}

export function TunnelList({ tunnels, selected, onSelect }: TunnelListProps) {
  const onKeyDown = (event: KeyboardEvent<HTMLUListElement>) => {
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
    event.preventDefault();
    const index = tunnels.findIndex((t) => t.name === selected);
    const next = tunnels[Math.min(tunnels.length - 1, Math.max(0, index + (event.key === 'ArrowDown' ? 1 : -1)))];
    if (next) {
      onSelect(next.name);
      document.getElementById(`tunnel-item-${next.name}`)?.focus();
    }
  };
  if (tunnels.length === 0) return <p className="muted empty-list">No tunnels yet. Import a .conf file or create one.</p>;
  return (
    <ul className="tunnel-list" role="listbox" aria-label="Tunnels" onKeyDown={onKeyDown}>
      {tunnels.map((tunnel) => (
        <li
          key={tunnel.name}
          id={`tunnel-item-${tunnel.name}`}
          role="option"
          aria-selected={tunnel.name === selected}
          tabIndex={tunnel.name === selected || (selected === null && tunnel === tunnels[0]) ? 0 : -1}
          onClick={() => onSelect(tunnel.name)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' || e.key === ' ') onSelect(tunnel.name);
          }}
        >
          <span className={`dot state-${tunnel.status.status.state}`} aria-hidden="true" />
          <span className="tunnel-name">{tunnel.name}</span>
          <span className="tunnel-state">{stateLabel(tunnel)}</span>
        </li>
      ))}
    </ul>
  );
}
