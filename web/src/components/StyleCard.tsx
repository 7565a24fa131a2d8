// StyleCard.tsx — shows a learned style profile (style.profile's JSON) as a card: palette
// swatches sized by weight, tone levels as grey steps, line weight and darkness, screentone,
// saturation and contrast. The data is untrusted JSON, so every field is checked before use.
import type { Style } from '../api';

interface Swatch { rgb: string; weight: number; lab?: number[] }
interface Profile {
  palette: Swatch[]; tones: number[]; line?: { weight_px?: number; darkness?: number };
  screentone?: { present?: boolean; density?: number; frequency?: number };
  saturation?: number; contrast?: number;
}

const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);

export function readProfile(data: unknown): Profile | null {
  if (!data || typeof data !== 'object') return null;
  const d = data as Record<string, unknown>;
  const palette: Swatch[] = Array.isArray(d.palette) ? (d.palette as unknown[]).flatMap((p) => {
    const o = p as Record<string, unknown> | null;
    if (!o || typeof o.rgb !== 'string' || !/^#[0-9a-fA-F]{6}$/.test(o.rgb)) return [];
    return [{ rgb: o.rgb, weight: Math.max(0, num(o.weight) ?? 0), lab: Array.isArray(o.lab) ? (o.lab as unknown[]).map((v) => num(v) ?? 0) : undefined }];
  }).slice(0, 64) : [];
  const tones = Array.isArray(d.tone_levels) ? (d.tone_levels as unknown[]).map(num).filter((v): v is number => v !== undefined).slice(0, 32) : [];
  const line = d.line && typeof d.line === 'object' ? d.line as Record<string, unknown> : null;
  const st = d.screentone && typeof d.screentone === 'object' ? d.screentone as Record<string, unknown> : null;
  return {
    palette, tones,
    line: line ? { weight_px: num(line.weight_px), darkness: num(line.darkness) } : undefined,
    screentone: st ? { present: st.present === true, density: num(st.density), frequency: num(st.frequency) } : undefined,
    saturation: num(d.saturation), contrast: num(d.contrast),
  };
}

function grey(v: number, scale: number): string {
  const g = Math.round(Math.min(255, Math.max(0, v * scale)));
  return `rgb(${g},${g},${g})`;
}

const fmt = (x: number | undefined, digits = 2) => (x === undefined ? '—' : x.toFixed(digits));
// Screentone frequency is in cycles per pixel (as convert.lineart takes it); people read spacing.
const toneSpacing = (f: number | undefined) => (f === undefined || f <= 0 ? '' : f <= 1 ? ` · dots every ${(1 / f).toFixed(1)} px` : ` · frequency ${f.toFixed(1)}`);

export function ProfileView({ data }: { data: unknown }) {
  const p = readProfile(data);
  if (!p) return <p className="muted small">This style has no readable profile.</p>;
  const total = p.palette.reduce((a, s) => a + s.weight, 0) || 1;
  const toneScale = p.tones.every((t) => t <= 1) ? 255 : 1; // levels as 0..1 or as 0..255
  return (
    <div className="profile">
      <div className="palette" aria-label="Palette">
        {p.palette.map((s, i) => (
          <div key={i} className="swatch" style={{ background: s.rgb, flexGrow: Math.max(0.04, s.weight / total) }}
               title={`${s.rgb} · ${(100 * s.weight / total).toFixed(1)}%${s.lab ? ` · Lab ${s.lab.map((v) => v.toFixed(0)).join(' ')}` : ''}`} />
        ))}
      </div>
      {p.tones.length > 0 && (
        <div className="tones" aria-label="Tone levels">
          {p.tones.map((t, i) => <div key={i} className="tone" style={{ background: grey(t, toneScale) }} title={String(Math.round(t * 100) / 100)} />)}
        </div>
      )}
      <dl className="facts">
        <dt>Line</dt><dd>{fmt(p.line?.weight_px, 1)} px, darkness {fmt(p.line?.darkness)}</dd>
        <dt>Screentone</dt><dd>{p.screentone?.present ? `yes · density ${fmt(p.screentone.density)}${toneSpacing(p.screentone.frequency)}` : 'none found'}</dd>
        <dt>Saturation</dt><dd>{fmt(p.saturation)}</dd>
        <dt>Contrast</dt><dd>{fmt(p.contrast)}</dd>
      </dl>
    </div>
  );
}

// A trained style (style.train): what it is and how the Background page uses it.
export function TrainedView({ data }: { data: unknown }) {
  const d = data && typeof data === 'object' ? data as Record<string, unknown> : {};
  const str = (x: unknown) => (typeof x === 'string' ? x.slice(0, 100) : '—');
  return (
    <dl className="facts" data-testid="trained-style">
      <dt>Words</dt><dd><code>{str(d.tokens)}</code></dd>
      <dt>LoRA</dt><dd>{str(d.lora)} · rank {num(d.rank) ?? '—'}</dd>
      <dt>Training</dt><dd>{num(d.steps_ti) ?? '—'} + {num(d.steps_lora) ?? '—'} steps at {num(d.resolution) ?? '—'} px on {num(d.samples) ?? '—'} samples{num(d.final_loss) !== undefined ? `, final loss ${num(d.final_loss)!.toPrecision(3)}` : ''}</dd>
      <dt>Use</dt><dd>Pick it on the Background page: the prompt gets “, style of {str(d.tokens)}” and the LoRA (0.8 / 0.9 from a prompt, 0.3 / 0.3 from a photo).</dd>
    </dl>
  );
}

export function StyleCard({ style }: { style: Style }) {
  return (
    <article className="card style-card" data-testid="style-card">
      <div className="job-head"><strong>{style.name}</strong><span className="status-pill">{style.kind}</span>
        {style.status && style.status !== 'ready' && <span className="muted small">{style.status}</span>}</div>
      {style.kind === 'lora' ? <TrainedView data={style.data} /> : <ProfileView data={style.data} />}
    </article>
  );
}
