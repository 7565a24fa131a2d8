// BackgroundPage.tsx — backgrounds in the webtoon's style. With a Stable Diffusion model
// (generate.*): a prompt, an optional photo, sampler/steps/cfg/seed, a trained style of the
// webtoon (style.train: the server adds its words and LoRA), and several candidates to pick
// from (img2img at strengths 0.45..0.65). Without one: line + tone conversion of a photo
// (convert.lineart) with LT-conversion options and a style picker, showing composite + layers.
import { useEffect, useState } from 'react';
import { api, errorText, type Style, type Upload } from '../api';
import { ImagePicker } from '../components/ImagePicker';
import { JobView } from '../components/JobView';
import { NeedWebtoon, Unavailable } from '../components/Unavailable';
import { useSession } from '../session';
import { isJobRefs, isString, isStringOrNull, isUploads, useStoredForm, useStoredState } from '../stored';

// shown until /api/capabilities answers with the server's own list (s.samplers)
const SAMPLERS = ['DPM++ 2M Karras', 'Euler a', 'DDIM'];
// what each generate precision means for the artist (README "Speed on the CPU")
const PRECISION_TEXT: Record<string, string> = {
  bf16: 'bf16: faster on CPUs with bf16 units, pixels ~1/255 from fp32',
  fp32: 'fp32: exact, slower',
};
// img2img candidates spread over these strengths: low keeps the photo, high follows the prompt.
const STRENGTH_LO = 0.45, STRENGTH_HI = 0.65;
export function strengths(n: number): number[] {
  if (n <= 1) return [0.55];
  return Array.from({ length: n }, (_, i) => Math.round((STRENGTH_LO + (STRENGTH_HI - STRENGTH_LO) * i / (n - 1)) * 100) / 100);
}
// Picture shapes: Size is the short side; the long side follows the ratio (any multiple of 8 from
// 64 to 2048 is drawn as asked). "photo" keeps an img2img photo's own proportions.
const SHAPES: Array<[string, string]> = [['1:1', 'Square'], ['2:3', 'Portrait 2:3'], ['3:2', 'Landscape 3:2'],
  ['9:16', 'Tall 9:16'], ['16:9', 'Wide 16:9'], ['photo', 'Like the photo']];
const side8 = (x: number) => Math.max(64, Math.min(2048, Math.round(x / 8) * 8));
export function pictureSize(size: number, shape: string, photo?: { width: number; height: number }): { width: number; height: number } {
  let a = 1, b = 1;
  if (shape === 'photo' && photo && photo.width > 0 && photo.height > 0) [a, b] = [photo.width, photo.height];
  else if (shape !== 'photo') [a, b] = shape.split(':').map(Number);
  if (!(a > 0 && b > 0)) [a, b] = [1, 1];
  const k = size / Math.min(a, b);
  return { width: side8(a * k), height: side8(b * k) };
}
type Mode = 'diffusion' | 'lineart';

export function BackgroundPage() {
  const s = useSession();
  const canTxt = s.kindAvailable('generate.txt2img');
  const canImg = s.kindAvailable('generate.img2img');
  const canLine = s.kindAvailable('convert.lineart');
  const [mode, setMode] = useState<Mode>(canTxt || canImg ? 'diffusion' : 'lineart');
  useEffect(() => { setMode(canTxt || canImg ? 'diffusion' : 'lineart'); }, [canTxt, canImg]);

  if (!s.webtoon) return <NeedWebtoon what="A background" />;
  if (s.capabilities && !canTxt && !canImg && !canLine) {
    return (
      <Unavailable title="Background generation" kinds={['generate.txt2img', 'generate.img2img', 'convert.lineart']}
        need="Diffusion backgrounds need a Stable Diffusion 1.x model in OMA_MODELS (the folder the server is started with). The weight-free line + tone conversion is not built into this server yet." />
    );
  }
  return (
    <div className="stack">
      {(canTxt || canImg) && canLine && (
        <div className="segmented">
          <button className={mode === 'diffusion' ? 'on' : ''} onClick={() => setMode('diffusion')}>Stable Diffusion</button>
          <button className={mode === 'lineart' ? 'on' : ''} onClick={() => setMode('lineart')}>Line + tone conversion</button>
        </div>
      )}
      {!(canTxt || canImg) && <p className="muted small">Diffusion backgrounds need a Stable Diffusion model in OMA_MODELS; the weight-free line + tone conversion is below.</p>}
      {mode === 'diffusion' && (canTxt || canImg) ? <DiffusionForm canTxt={canTxt} canImg={canImg} /> : <LineartForm />}
    </div>
  );
}

function DiffusionForm({ canTxt, canImg }: { canTxt: boolean; canImg: boolean }) {
  const s = useSession();
  const [photo, setPhoto] = useStoredState<Upload[]>(`oma.${s.artist?.id}.background.photo`, [], isUploads);
  const [f, set] = useStoredForm(`oma.${s.artist?.id}.background.form`, {
    prompt: '', negative: 'lowres, blurry, text, watermark', sampler: SAMPLERS[0], steps: 20, cfg: 7.5,
    seed: Math.floor(Math.random() * 2 ** 31), size: 512, shape: '1:1', count: 4, photoCount: 6, precision: '',
  });
  const { prompt, negative, sampler, steps, cfg, seed, size, shape, count, photoCount } = f;
  /* '' = the server's default (bf16 on CPUs that run it natively); a choice it no longer offers is dropped */
  const precision = f.precision && s.precision?.choices.includes(f.precision) ? f.precision : '';
  const setPrecision = (v: string) => set('precision', v);
  const setShape = (v: string) => set('shape', v);
  const shapeNow = shape === 'photo' && photo.length === 0 ? '1:1' : shape;  /* the photo was removed */
  const setPrompt = (v: string) => set('prompt', v);
  const setNegative = (v: string) => set('negative', v);
  const setSampler = (v: string) => set('sampler', v);
  const setSteps = (v: number) => set('steps', v);
  const setCfg = (v: number) => set('cfg', v);
  const setSeed = (v: number) => set('seed', v);
  const setSize = (v: number) => set('size', v);
  const setCount = (v: number) => set('count', v);
  const setPhotoCount = (v: number) => set('photoCount', v);
  const [jobs, setJobs] = useStoredState(`oma.${s.artist?.id}.${s.webtoon?.id}.background.jobs`, [] as Array<{ id: string; title: string }>, isJobRefs);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [trained, setTrained] = useState<Style[]>([]);
  const [trainedId, setTrainedId] = useStoredState<string>(`oma.${s.artist?.id}.${s.webtoon?.id}.background.trained`, '', isString);
  const webtoonId = s.webtoon?.id;
  useEffect(() => {
    if (!webtoonId) return;
    api.styles(webtoonId).then((r) => setTrained((Array.isArray(r.styles) ? r.styles : []).filter((x) => x.kind === 'lora' && x.status === 'ready')))
      .catch(() => setTrained([]));
  }, [webtoonId]);
  const styleId = trained.some((x) => x.id === trainedId) ? trainedId : '';

  const run = async () => {
    if (!prompt.trim()) { setError('Describe the background in the prompt.'); return; }
    if (photo.length > 0 && !canImg) { setError('This server cannot run img2img; remove the photo to draw from the prompt.'); return; }
    if (photo.length === 0 && !canTxt) { setError('This server only runs img2img: add a photo.'); return; }
    if (photo.length > 0 && Math.floor(steps * Math.min(...strengths(photoCount))) < 1) {
      setError(`With ${steps} steps, strength ${Math.min(...strengths(photoCount))} runs no denoising step: use more steps.`); return;
    }
    setBusy(true); setError(null);
    const base = { prompt: prompt.trim(), negative, sampler, steps, cfg, seed, ...pictureSize(size, shapeNow, photo[0]), ...(styleId ? { style_id: styleId } : {}), ...(precision ? { precision } : {}) };
    try {
      const made: Array<{ id: string; title: string }> = [];
      if (photo.length > 0) {
        for (const strength of strengths(photoCount)) {
          const j = await api.createJob('generate.img2img', { ...base, strength, batch: 1 }, { image: photo[0].id }, s.webtoon?.id);
          made.push({ id: j.id, title: `Strength ${strength.toFixed(2)}` });
        }
      } else {
        const j = await api.createJob('generate.txt2img', { ...base, batch: count }, {}, s.webtoon?.id);
        made.push({ id: j.id, title: `${count} candidates, seed ${seed}` });
      }
      setJobs(made);
    } catch (e) { setError(errorText(e)); } finally { setBusy(false); }
  };

  return (
    <div className="two-col">
      <section className="card stack">
        <h2>Generate a background</h2>
        <ImagePicker label={canImg ? 'Photo (optional, for img2img)' : 'Photo'} uploads={photo} onChange={setPhoto} />
        <label>Prompt<textarea aria-label="Prompt" rows={3} value={prompt} maxLength={2000} onChange={(e) => setPrompt(e.target.value)}
          placeholder="a quiet school corridor at dusk, webtoon background, clean lines" /></label>
        <label>Negative prompt<textarea aria-label="Negative prompt" rows={2} value={negative} maxLength={2000} onChange={(e) => setNegative(e.target.value)} /></label>
        {trained.length > 0 && (
          <label>Trained style<select aria-label="Trained style" value={styleId} onChange={(e) => setTrainedId(e.target.value)}>
            <option value="">None</option>
            {trained.map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}
          </select></label>
        )}
        {styleId && <p className="muted small">The prompt gets “, style of &lt;s1&gt;&lt;s2&gt;” and the style's LoRA ({photo.length > 0 ? 'UNet 0.3, text 0.3 from a photo' : 'UNet 0.8, text 0.9'}).</p>}
        <div className="grid-form">
          <label>Sampler<select value={sampler} onChange={(e) => setSampler(e.target.value)}>{(s.samplers?.length ? s.samplers : SAMPLERS).map((x) => <option key={x}>{x}</option>)}</select></label>
          <label>Steps<input type="number" min={1} max={150} value={steps} onChange={(e) => setSteps(clampInt(e.target.value, 1, 150, 20))} /></label>
          <label>CFG scale<input type="number" min={1} max={30} step={0.5} value={cfg} onChange={(e) => setCfg(clampNum(e.target.value, 1, 30, 7.5))} /></label>
          <label>Seed<span className="seed-row"><input type="number" min={0} value={seed} onChange={(e) => setSeed(clampInt(e.target.value, 0, 2 ** 32 - 1, 0))} />
            <button type="button" onClick={() => setSeed(Math.floor(Math.random() * 2 ** 31))} title="New random seed">New</button></span></label>
          <label>Size<select value={size} onChange={(e) => setSize(Number(e.target.value))}>{[256, 384, 512, 640, 768].map((x) => <option key={x} value={x}>{x}</option>)}</select></label>
          <label>Shape<select value={shapeNow} onChange={(e) => setShape(e.target.value)}>{SHAPES.filter(([v]) => v !== 'photo' || photo.length > 0).map(([v, t]) => <option key={v} value={v}>{t} ({(({ width, height }) => `${width}×${height}`)(pictureSize(size, v, photo[0]))})</option>)}</select></label>
          {photo.length === 0
            ? <label>Candidates<input type="number" min={1} max={8} value={count} onChange={(e) => setCount(clampInt(e.target.value, 1, 8, 4))} /></label>
            : <label>Candidates<input type="number" min={1} max={6} value={photoCount} onChange={(e) => setPhotoCount(clampInt(e.target.value, 1, 6, 6))} /></label>}
          {s.precision && s.precision.choices.length > 1 && (
            <label>Precision<select aria-label="Precision" value={precision} onChange={(e) => setPrecision(e.target.value)}>
              <option value="">Server default ({s.precision.default})</option>
              {s.precision.choices.map((x) => <option key={x} value={x}>{PRECISION_TEXT[x] ?? x}</option>)}
            </select></label>
          )}
        </div>
        {photo.length > 0 && <p className="muted small">{photoCount === 1 ? 'One candidate' : `${photoCount} candidates`} at strength {strengths(photoCount).join(', ')}: low keeps the photo, high follows the prompt.</p>}
        {error && <div className="error-text" role="alert">{error}</div>}
        <button className="primary" onClick={run} disabled={busy}>Generate</button>
      </section>
      <section className={jobs.length > 1 ? 'candidates' : 'stack'}>
        {jobs.length === 0 && <div className="card empty muted">Candidates appear here; save the one you like to the gallery.</div>}
        {jobs.map((j) => <JobView key={j.id} jobId={j.id} title={j.title} compact onDismiss={() => setJobs((x) => x.filter((y) => y.id !== j.id))} />)}
      </section>
    </div>
  );
}

function LineartForm() {
  const s = useSession();
  const [photo, setPhoto] = useStoredState<Upload[]>(`oma.${s.artist?.id}.lineart.photo`, [], isUploads);
  const [styles, setStyles] = useState<Style[]>([]);
  const [styleId, setStyleId] = useStoredState<string>(`oma.${s.artist?.id}.${s.webtoon?.id}.lineart.style`, '', isString);
  const [f, set] = useStoredForm(`oma.${s.artist?.id}.lineart.form`, {
    lineWidth: 2, lineThreshold: 0.5, toneLevels: 3, toneType: 'dots', toneSpacing: 6, toneAngle: 45,
    color: true as boolean, psd: false as boolean, useStyleValues: true as boolean,
  });
  const { lineWidth, lineThreshold, toneLevels, toneSpacing, toneAngle, color, psd, useStyleValues } = f;
  const toneType = (['none', 'dots', 'lines'].includes(f.toneType) ? f.toneType : 'dots') as 'none' | 'dots' | 'lines';
  const setLineWidth = (v: number) => set('lineWidth', v);
  const setLineThreshold = (v: number) => set('lineThreshold', v);
  const setToneLevels = (v: number) => set('toneLevels', v);
  const setToneType = (v: string) => set('toneType', v);
  const setToneSpacing = (v: number) => set('toneSpacing', v);
  const setToneAngle = (v: number) => set('toneAngle', v);
  const setColor = (v: boolean) => set('color', v);
  const setPsd = (v: boolean) => set('psd', v);
  const setUseStyleValues = (v: boolean) => set('useStyleValues', v);
  const [jobId, setJobId] = useStoredState<string | null>(`oma.${s.artist?.id}.${s.webtoon?.id}.lineart.job`, null, isStringOrNull);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const webtoonId = s.webtoon?.id;

  useEffect(() => {
    if (!webtoonId) return;
    api.styles(webtoonId).then((r) => setStyles(Array.isArray(r.styles) ? r.styles : [])).catch(() => setStyles([]));
  }, [webtoonId]);

  if (s.capabilities && !s.kindAvailable('convert.lineart')) {
    return <Unavailable title="Line + tone conversion" kinds={['convert.lineart']} need="The weight-free line + tone converter is not built into this server yet." />;
  }

  const run = async () => {
    if (photo.length === 0) { setError('Choose a photo or 3D render to convert.'); return; }
    const params: Record<string, unknown> = { tone_type: toneType, color };
    if (styleId) params.style_id = styleId;
    if (!styleId || !useStyleValues) {
      Object.assign(params, { line_width: lineWidth, line_threshold: lineThreshold, tone_levels: toneLevels });
    }
    if (toneType !== 'none') Object.assign(params, { tone_frequency: Math.round(10000 / toneSpacing) / 10000, tone_angle: toneAngle });
    if (psd) params.psd = true;
    setBusy(true); setError(null);
    try {
      const j = await api.createJob('convert.lineart', params, { image: photo[0].id }, webtoonId);
      setJobId(j.id);
    } catch (e) { setError(errorText(e)); } finally { setBusy(false); }
  };

  return (
    <div className="two-col">
      <section className="card stack">
        <h2>Line + tone conversion</h2>
        <p className="muted">Turns a photo or 3D render into line art with flats and screentone, like an LT conversion.</p>
        <ImagePicker label="Choose photo" uploads={photo} onChange={setPhoto} />
        <label>Style<select value={styleId} onChange={(e) => setStyleId(e.target.value)}>
          <option value="">No style (use the values below)</option>
          {styles.map((st) => <option key={st.id} value={st.id}>{st.name}</option>)}
        </select></label>
        {styleId && <label className="check"><input type="checkbox" checked={useStyleValues} onChange={(e) => setUseStyleValues(e.target.checked)} />
          Take line width, threshold and tone levels from the style</label>}
        <div className="grid-form">
          <label>Line width (px)<input type="number" min={0.5} max={32} step={0.5} value={lineWidth} disabled={!!styleId && useStyleValues}
            onChange={(e) => setLineWidth(clampNum(e.target.value, 0.5, 32, 2))} /></label>
          <label>Line threshold<input type="range" min={0} max={1} step={0.05} value={lineThreshold} disabled={!!styleId && useStyleValues}
            onChange={(e) => setLineThreshold(Number(e.target.value))} /><span className="small muted">{lineThreshold.toFixed(2)}</span></label>
          <label>Tone levels<input type="number" min={2} max={8} value={toneLevels} disabled={!!styleId && useStyleValues}
            onChange={(e) => setToneLevels(clampInt(e.target.value, 2, 8, 3))} /></label>
          <label>Tone type<select value={toneType} onChange={(e) => setToneType(e.target.value as typeof toneType)}>
            <option value="none">none</option><option value="dots">dots</option><option value="lines">lines</option></select></label>
          {toneType !== 'none' && <>
            <label>Tone spacing (px)<input type="number" min={2} max={50} step={0.5} value={toneSpacing} onChange={(e) => setToneSpacing(clampNum(e.target.value, 2, 50, 6))} /></label>
            <label>Tone angle (°)<input type="number" min={0} max={180} value={toneAngle} onChange={(e) => setToneAngle(clampNum(e.target.value, 0, 180, 45))} /></label>
          </>}
          <label className="check"><input type="checkbox" checked={color} onChange={(e) => setColor(e.target.checked)} /> Colour flats</label>
          <label className="check"><input type="checkbox" checked={psd} onChange={(e) => setPsd(e.target.checked)} /> Layered PSD too</label>
        </div>
        {error && <div className="error-text" role="alert">{error}</div>}
        <button className="primary" onClick={run} disabled={busy || photo.length === 0}>Convert</button>
      </section>
      <section className="stack">
        {!jobId && <div className="card empty muted">The composite and its layers (lines, flats, tones) appear here.</div>}
        {jobId && <JobView key={jobId} jobId={jobId} title="Converted background" onDismiss={() => setJobId(null)} />}
      </section>
    </div>
  );
}

export function clampInt(v: string, lo: number, hi: number, dflt: number): number {
  const n = parseInt(v, 10);
  return Number.isFinite(n) ? Math.min(hi, Math.max(lo, n)) : dflt;
}
export function clampNum(v: string, lo: number, hi: number, dflt: number): number {
  const n = parseFloat(v);
  return Number.isFinite(n) ? Math.min(hi, Math.max(lo, n)) : dflt;
}
