/** The window-wide answer to "am I protected right now?", above everything else. */
import type { TunnelSummary } from '../contract.js';
import { protectionOf } from '../tunnel-state.js';

export function ProtectionBanner({ tunnels, helperRunning, now }: { tunnels: readonly TunnelSummary[]; helperRunning: boolean; now: number }) {
  const protection = protectionOf(tunnels, helperRunning, now);
  return (
    // Only the title is a live region: the detail counts seconds, which a screen reader would
    // otherwise read out every second.
    <div className={`banner banner-${protection.level}`} data-testid="protection" data-level={protection.level}>
      <span className="banner-icon" aria-hidden="true" />
      <strong role="status" data-testid="protection-title">
        {protection.title}
      </strong>
      <span className="banner-detail">{protection.detail}</span>
    </div>
  );
}
