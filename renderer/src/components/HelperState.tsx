import type { AppSnapshot } from '../contract.js';
/** What the window shows when the helper cannot be reached, and what to do about it. */

export function HelperState({ snapshot }: { snapshot: AppSnapshot }) {
  const helper = snapshot.helper;
  let title: string;
  let detail: string;
  switch (helper.state) {
    case 'running':
      return null;
    case 'connecting':
      title = 'Connecting to the Wirelane service…';
      detail = `Waiting for ${helper.socketPath}.`;
      break;
    case 'not_installed':
      title = 'The Wirelane service is not installed';
      detail = 'Wirelane needs its background service to create tunnels.';
      break;
    case 'not_running':
      title = 'The Wirelane service is not running';
      detail = `No answer at ${helper.socketPath}: ${helper.detail}. Wirelane keeps trying and recovers by itself once it runs.`;
      break;
    case 'refused':
      title = 'The Wirelane service refused this user';
      detail = `${helper.detail}. Ask an administrator to allow your account.`;
      break;
  }
  return (
    <section className="helper-state" role="alert" aria-live="assertive" data-testid="helper-state" data-state={helper.state}>
      <h2>{title}</h2>
      <p>{detail}</p>
      {snapshot.advice && <p className="advice">{snapshot.advice}</p>}
    </section>
  );
}
