// Unavailable.tsx — a calm, plain notice for features this server cannot run yet, saying
// what is needed (from /api/capabilities), and a notice for pages that need a webtoon.
import type { ReactNode } from 'react';

export function Unavailable({ title, kinds, need, children }: { title: string; kinds: string[]; need: string; children?: ReactNode }) {
  return (
    <div className="card unavailable" data-testid="unavailable">
      <h3>{title} is not available on this server yet</h3>
      <p>{need}</p>
      <p className="muted small">Job kinds: {kinds.map((k) => <code key={k}>{k}</code>)}</p>
      {children}
    </div>
  );
}

export function NeedWebtoon({ what }: { what: string }) {
  return (
    <div className="card empty" data-testid="need-webtoon">
      <h3>Pick or create a webtoon first</h3>
      <p className="muted">{what} belongs to a webtoon. Use “New webtoon” at the top to start one.</p>
    </div>
  );
}
