/** What the window shows when the helper cannot be reached, and what to do about it. */
import type { AppSnapshot } from '../contract.js';

export function helperProblem(snapshot: AppSnapshot): { title: string; detail: string } | null {
  const helper = snapshot.helper;
  switch (helper.state) {
    case 'running':
      return null;
    case 'connecting':
      return { title: 'Connecting to the Wirelane service…', detail: `Waiting for ${helper.socketPath}.` };
    case 'not_installed':
      return { title: 'The Wirelane service is not installed', detail: 'Wirelane needs its background service to create tunnels.' };
    case 'not_running':
      return {
        title: 'The Wirelane service is not running',
        detail: `No answer at ${helper.socketPath}: ${helper.detail}. Wirelane keeps trying and recovers by itself once it runs.`,
      };
    case 'refused':
      return { title: 'The Wirelane service refused this user', detail: `${helper.detail}. Ask an administrator to allow your account.` };
  }
}

/** compact: a strip above the editor, which stays with its text while the helper is away. */
export function HelperState({ snapshot, compact = false }: { snapshot: AppSnapshot; compact?: boolean }) {
  const problem = helperProblem(snapshot);
  if (!problem) return null;
  if (compact) {
    return (
      <p className="helper-strip" role="alert" data-testid="helper-state" data-state={snapshot.helper.state}>
        <strong>{problem.title}.</strong> Your text stays here; Save works again once the service is back.
      </p>
    );
  }
  return (
    <section className="helper-state" role="alert" aria-live="assertive" data-testid="helper-state" data-state={snapshot.helper.state}>
      <h2 id="page-title" tabIndex={-1}>
        {problem.title}
      </h2>
      <p>{problem.detail}</p>
      {snapshot.advice && <p className="advice">{snapshot.advice}</p>}
    </section>
  );
}
