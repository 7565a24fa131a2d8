// StylesPage.tsx — the webtoon's style: its sample images (uploaded and attached to the
// webtoon), a "learn style" run of style.profile over them (3..50 samples: the weight-free
// profile), a "train" run of style.train (2..50 samples, needs a Stable Diffusion model: a LoRA
// + embedding, shown live with its loss curve, samples and time left), and a card for each
// style learned so far.
import { useCallback, useEffect, useState } from 'react';
import { api, errorText, type Style, type Upload, type Webtoon } from '../api';
import { ImagePicker } from '../components/ImagePicker';
import { JobView } from '../components/JobView';
import { StyleCard } from '../components/StyleCard';
import { TrainView } from '../components/TrainView';
import { NeedWebtoon, Unavailable } from '../components/Unavailable';
import { useSession } from '../session';
import { isStringOrNull, useStoredState } from '../stored';

export function StylesPage() {
  const s = useSession();
  const webtoonId = s.webtoon?.id;
  const [detail, setDetail] = useState<Webtoon | null>(null);
  const [styles, setStyles] = useState<Style[]>([]);
  const [picked, setPicked] = useState<Upload[]>([]);
  const [name, setName] = useState('');
  const [jobId, setJobId] = useStoredState<string | null>(`oma.${s.artist?.id}.${s.webtoon?.id}.style.job`, null, isStringOrNull);
  // Training settings: empty = the recipe's values (what an artist should keep)
  const [adv, setAdv] = useState({ steps_ti: '', steps_lora: '', resolution: '', sample_every: '' });
  const [trainJobId, setTrainJobId] = useStoredState<string | null>(`oma.${s.artist?.id}.${s.webtoon?.id}.train.job`, null, isStringOrNull);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    if (!webtoonId) return;
    try {
      const [w, st] = await Promise.all([api.webtoon(webtoonId), api.styles(webtoonId)]);
      setDetail(w); setStyles(Array.isArray(st.styles) ? st.styles : []);
    } catch (e) { setError(errorText(e)); }
  }, [webtoonId]);
  useEffect(() => { setDetail(null); setStyles([]); load(); }, [load]);

  if (!s.webtoon) return <NeedWebtoon what="A style" />;
  const samples = Array.isArray(detail?.samples) ? detail!.samples : [];
  const available = s.kindAvailable('style.profile');
  const canTrain = s.kindAvailable('style.train');

  const addSamples = async (ups: Upload[]) => {
    setPicked([]);
    setError(null);
    for (const u of ups) {
      try { await api.addSample(webtoonId!, u.id); } catch (e) { setError(errorText(e)); }
    }
    await load();
  };
  const removeSample = async (id: string) => {
    try { await api.deleteSample(webtoonId!, id); await load(); } catch (e) { setError(errorText(e)); }
  };
  const learn = async () => {
    if (samples.length < 3 || samples.length > 50) { setError('A style needs 3 to 50 sample images.'); return; }
    if (!name.trim()) { setError('Name the style, e.g. “Night scenes”.'); return; }
    setBusy(true); setError(null);
    try {
      const job = await api.createJob('style.profile', { name: name.trim() }, { samples: samples.map((x) => x.upload_id) }, webtoonId);
      setJobId(job.id);
    } catch (e) { setError(errorText(e)); } finally { setBusy(false); }
  };

  const train = async () => {
    if (samples.length < 2 || samples.length > 50) { setError('Training needs 2 to 50 sample images.'); return; }
    if (!name.trim()) { setError('Name the style, e.g. “Night scenes”.'); return; }
    setBusy(true); setError(null);
    try {
      const params: Record<string, unknown> = { name: name.trim() };
      for (const [k, v] of Object.entries(adv)) if (v.trim() !== '') params[k] = Number(v);
      const job = await api.createJob('style.train', params, { samples: samples.map((x) => x.upload_id) }, webtoonId);
      setTrainJobId(job.id);
    } catch (e) { setError(errorText(e)); } finally { setBusy(false); }
  };

  return (
    <div className="stack">
      <section className="card stack">
        <h2>Style samples <span className="muted small">{samples.length} / 50</span></h2>
        <p className="muted">Upload 3 to 50 finished panels from “{s.webtoon.name}”. Oh My Assistant learns their palette, tones, line weight and screentone.</p>
        <ImagePicker label="Add sample images" multiple max={Math.max(0, 50 - samples.length)} uploads={picked}
                     onChange={(u) => { setPicked(u); }} testId="style-samples" />
        {picked.length > 0 && <button className="primary" onClick={() => addSamples(picked)}>Add {picked.length} to the webtoon</button>}
        {samples.length > 0 && (
          <div className="thumbs">
            {samples.map((x) => (
              <figure key={x.upload_id} className="thumb">
                <img src={api.uploadFileUrl(x.upload_id)} alt="" loading="lazy" />
                <button className="remove" title="Remove sample" aria-label="Remove sample" onClick={() => removeSample(x.upload_id)}>×</button>
              </figure>
            ))}
          </div>
        )}
        {!available && s.capabilities ? (
          <Unavailable title="Style learning" kinds={['style.profile']} need="The style profile pipeline is not built into this server yet; your samples are kept and can be used once it is." />
        ) : (
          <div className="inline">
            <input aria-label="Style name" placeholder="Style name" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} />
            <button className="primary" onClick={learn} disabled={busy || samples.length < 3}>Learn style</button>
            {canTrain && <button className="primary" onClick={train} disabled={busy || samples.length < 2}
                                 title="Learn the style as a LoRA + embedding for Stable Diffusion (takes a while)">Train</button>}
            {samples.length < 3 && <span className="muted small">needs {3 - samples.length} more sample{3 - samples.length === 1 ? '' : 's'}</span>}
          </div>
        )}
        {canTrain && (
          <details className="small">
            <summary>Training settings (leave empty for the recipe: 500 + 500 steps at 512 px)</summary>
            <div className="grid-form">
              <label>Steps, stage 1 (style words)<input type="number" min={0} max={5000} value={adv.steps_ti} placeholder="500"
                onChange={(e) => setAdv({ ...adv, steps_ti: e.target.value })} /></label>
              <label>Steps, stage 2 (LoRA)<input type="number" min={0} max={5000} value={adv.steps_lora} placeholder="500"
                onChange={(e) => setAdv({ ...adv, steps_lora: e.target.value })} /></label>
              <label>Resolution (px)<input type="number" min={64} max={1024} step={64} value={adv.resolution} placeholder="512"
                onChange={(e) => setAdv({ ...adv, resolution: e.target.value })} /></label>
              <label>Sample image every (steps)<input type="number" min={0} max={10000} value={adv.sample_every} placeholder="100"
                onChange={(e) => setAdv({ ...adv, sample_every: e.target.value })} /></label>
            </div>
          </details>
        )}
        {s.capabilities && !canTrain && available && (
          <p className="muted small">Training a LoRA style needs a Stable Diffusion 1.x model in OMA_MODELS; the weight-free profile above works without one.</p>
        )}
        {error && <div className="error-text" role="alert">{error}</div>}
      </section>
      {jobId && <JobView key={jobId} jobId={jobId} title="Learning style" onFinished={() => load()} onDismiss={() => setJobId(null)} />}
      {trainJobId && <TrainView key={trainJobId} jobId={trainJobId} onFinished={() => load()} onDismiss={() => setTrainJobId(null)} />}
      <section className="stack">
        <h2>Styles</h2>
        {styles.length === 0 && <div className="card empty muted">No styles learned for this webtoon yet.</div>}
        <div className="style-grid">{styles.map((st) => <StyleCard key={st.id} style={st} />)}</div>
      </section>
    </div>
  );
}
