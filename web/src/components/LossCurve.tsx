// LossCurve.tsx — the training loss of a style.train job as an SVG plot: one point per step
// (the job's detail.losses, [[step, loss], ...]), x over all steps of both stages, y from the
// lowest to the highest loss seen. A dashed line marks where textual inversion hands over to
// the LoRA stage and a dotted one the checkpoint a restarted run resumed from. The detail is
// untrusted JSON: readTrainDetail keeps only well-formed values.
export interface TrainDetail {
  stage: string; step: number; steps: number; totalStep: number; totalSteps: number;
  loss: number | null; etaS: number | null; losses: Array<[number, number]>;
  sampleSteps: number[]; resumedFrom: number | null; checkpointError: string | null;
}

const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

export function readTrainDetail(d: unknown): TrainDetail | null {
  if (!d || typeof d !== 'object' || Array.isArray(d)) return null;
  const o = d as Record<string, unknown>;
  const losses: Array<[number, number]> = Array.isArray(o.losses)
    ? (o.losses as unknown[]).flatMap((e) => {
      if (!Array.isArray(e) || e.length !== 2) return [];
      const s = num(e[0]), l = num(e[1]);
      return s !== null && l !== null ? [[s, l] as [number, number]] : [];
    }).slice(0, 50000)
    : [];
  const samples = Array.isArray(o.sample_steps) ? (o.sample_steps as unknown[]).map(num).filter((v): v is number => v !== null).slice(0, 500) : [];
  return {
    stage: typeof o.stage === 'string' ? o.stage.slice(0, 20) : '',
    step: num(o.step) ?? 0, steps: num(o.steps) ?? 0,
    totalStep: num(o.total_step) ?? 0, totalSteps: num(o.total_steps) ?? 0,
    loss: num(o.loss), etaS: num(o.eta_s), losses, sampleSteps: samples,
    resumedFrom: num(o.resumed_from), checkpointError: typeof o.checkpoint_error === 'string' ? o.checkpoint_error.slice(0, 300) : null,
  };
}

/** Reads [[step, loss], ...] from untrusted JSON (bad entries dropped, at most 50000). */
export function readLosses(v: unknown): Array<[number, number]> {
  return readTrainDetail({ losses: v })?.losses ?? [];
}

/** The curve so far with newer points added: base's points before add's first step, then
 * add. Points of base past add's last step are dropped too (a resumed run reports again from
 * its checkpoint, so its points replace the abandoned ones). Both sorted by step. */
export function mergeLosses(base: Array<[number, number]>, add: Array<[number, number]>): Array<[number, number]> {
  if (!add.length) return base;
  const first = add[0][0];
  let n = 0;
  while (n < base.length && base[n][0] < first) n++;
  return n === 0 ? add : [...base.slice(0, n), ...add];
}

const W = 520, H = 200, PADL = 52, PADR = 12, PADT = 12, PADB = 28;

export function LossCurve({ detail, stageSplit }: { detail: TrainDetail; stageSplit?: number }) {
  const pts = detail.losses;
  const maxStep = Math.max(detail.totalSteps, pts.length ? pts[pts.length - 1][0] : 1, 1);
  let lo = Infinity, hi = -Infinity;
  for (const [, l] of pts) { lo = Math.min(lo, l); hi = Math.max(hi, l); }
  if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
  if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
  const x = (s: number) => PADL + (W - PADL - PADR) * (s / maxStep);
  const y = (l: number) => PADT + (H - PADT - PADB) * (1 - (l - lo) / (hi - lo));
  const line = pts.map(([s, l], i) => `${i ? 'L' : 'M'}${x(s).toFixed(1)},${y(l).toFixed(1)}`).join(' ');
  const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
  return (
    <svg className="loss-curve" viewBox={`0 0 ${W} ${H}`} role="img" data-testid="loss-curve" data-points={pts.length}
         aria-label={pts.length ? `Training loss over ${pts.length} steps, last ${fmt(pts[pts.length - 1][1])}` : 'Training loss: no steps yet'}>
      <rect x={PADL} y={PADT} width={W - PADL - PADR} height={H - PADT - PADB} className="plot-bg" />
      <text x={PADL - 6} y={PADT + 10} textAnchor="end" className="axis">{fmt(hi)}</text>
      <text x={PADL - 6} y={H - PADB} textAnchor="end" className="axis">{fmt(lo)}</text>
      <text x={PADL} y={H - 8} className="axis">0</text>
      <text x={W - PADR} y={H - 8} textAnchor="end" className="axis">{maxStep} steps</text>
      <text x={12} y={(H - PADB + PADT) / 2} className="axis" transform={`rotate(-90 12 ${(H - PADB + PADT) / 2})`} textAnchor="middle">loss</text>
      {stageSplit !== undefined && stageSplit > 0 && stageSplit < maxStep && (
        <g className="stage-split"><line x1={x(stageSplit)} x2={x(stageSplit)} y1={PADT} y2={H - PADB} />
          <text x={x(stageSplit) + 4} y={PADT + 10} className="axis">LoRA</text></g>
      )}
      {detail.resumedFrom !== null && detail.resumedFrom > 0 && (
        <g className="resumed"><line x1={x(detail.resumedFrom)} x2={x(detail.resumedFrom)} y1={PADT} y2={H - PADB} />
          <title>Resumed from the checkpoint of step {detail.resumedFrom}</title></g>
      )}
      {pts.length > 0 && <path d={line} className="loss-line" data-testid="loss-line" />}
      {pts.length === 1 && <circle cx={x(pts[0][0])} cy={y(pts[0][1])} r={3} className="loss-dot" />}
    </svg>
  );
}
