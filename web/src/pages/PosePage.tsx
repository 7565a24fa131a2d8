// PosePage.tsx — set a character's pose. Upload a reference and detect its pose
// (pose.estimate), or start from a standing figure or an OpenPose JSON file; drag keypoints to
// make the target pose; save/load OpenPose JSON; export the skeleton PNG (drawn here in the
// standard colours, or rendered by pose.render); and "warp" the reference from the detected to
// the edited pose (pose.warp); with the AnimateAnyone weights on the server, "Draw the character
// in this pose" (pose.transfer) redraws the reference's character in the edited pose, in the
// pose's proportions (the shorter side as chosen, each side a multiple of 8). When the server
// has DWPose's ONNX files (/api/capabilities pose_models), a Model choice picks who finds the
// people (DWPose: whole body in one pass, so the hands/face boxes do not apply).
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, errorText, fetchOutputText, type Job, type Upload } from '../api';
import { ImagePicker } from '../components/ImagePicker';
import { pictureSize } from './BackgroundPage';
import { JobView } from '../components/JobView';
import { useSession } from '../session';
import { PoseEditor } from '../pose/PoseEditor';
import { BODY_NAMES, PoseError, addBodyPoint, addPerson, removePerson, clonePose, defaultPose, downloadBlob, isPoseOrNull, parsePose, poseToPng, toOpenPose, type Pose } from '../pose/openpose';
import { isJobRefs, isStringOrNull, isUploads, useStoredState } from '../stored';

export function PosePage() {
  const s = useSession();
  const key = `oma.${s.artist?.id}.pose.`;
  const [photo, setPhoto] = useStoredState<Upload[]>(key + 'photo', [], isUploads);
  const [detected, setDetected] = useStoredState<Pose | null>(key + 'detected', null, isPoseOrNull);
  const [edited, setEdited] = useStoredState<Pose | null>(key + 'edited', null, isPoseOrNull);
  const [hands, setHands] = useState(true);
  const [face, setFace] = useState(true);
  const [model, setModel] = useState('movenet-multipose');
  const [opacity, setOpacity] = useState(0.6);
  const [showGhost, setShowGhost] = useState(true);
  const [estimateJob, setEstimateJob] = useStoredState<string | null>(key + 'estimate', null, isStringOrNull);
  // The job whose result is already loaded: seeing it finish again after a reload must not
  // overwrite the artist's edits.
  const [detectedJob, setDetectedJob] = useStoredState<string | null>(key + 'detectedJob', null, isStringOrNull);
  const [extraJobs, setExtraJobs] = useStoredState(key + 'jobs', [] as Array<{ id: string; title: string }>, isJobRefs);
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  // Undo: the poses before each edit (drag, nudge, add/remove, load, reset), newest last.
  const [history, setHistory] = useState<Pose[]>([]);
  const remember = useCallback(() => {
    if (edited) setHistory((h) => [...h.slice(-49), edited]);
  }, [edited]);
  const commit = (next: Pose | null) => { remember(); setEdited(next); };
  const undo = useCallback(() => {
    if (history.length === 0) return;
    setEdited(history[history.length - 1]);
    setHistory(history.slice(0, -1));
  }, [history, setEdited]);
  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (t && /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) return;
      if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === 'z') { e.preventDefault(); undo(); }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [undo]);

  const canEstimate = s.kindAvailable('pose.estimate');
  const canRender = s.kindAvailable('pose.render');
  const canWarp = s.kindAvailable('pose.warp');
  const canTransfer = s.kindAvailable('pose.transfer');
  const [steps, setSteps] = useState(20);
  const [drawSide, setDrawSide] = useState(512);
  const ref = photo[0] ?? null;
  const POSE_MODEL_TITLES: Record<string, string> = {
    'movenet-multipose': 'MoveNet + BlazePose', blazepose: 'BlazePose only', dwpose: 'DWPose (whole body)' };
  const modelChoices = (s.poseModels ?? []).filter((m) => m in POSE_MODEL_TITLES);
  const dwpose = model === 'dwpose' && modelChoices.includes('dwpose');

  const choosePhoto = (u: Upload[]) => {
    setPhoto(u); setDetected(null); setEstimateJob(null); setNote(null); setError(null);
    if (u[0] && edited && (edited.width !== u[0].width || edited.height !== u[0].height)) setEdited(null);
  };

  const detect = async () => {
    if (!ref) { setError('Upload a reference image first.'); return; }
    setBusy(true); setError(null); setNote(null);
    try {
      const params = modelChoices.includes('dwpose') && modelChoices.includes(model) ? { hands, face, model } : { hands, face };
      const j = await api.createJob('pose.estimate', params, { image: ref.id }, s.webtoon?.id);
      setEstimateJob(j.id);
    } catch (e) { setError(errorText(e)); } finally { setBusy(false); }
  };

  const onEstimated = useCallback(async (job: Job) => {
    if (job.status !== 'succeeded' || job.id === detectedJob) return;
    try {
      const p = parsePose(await fetchOutputText(job.id, 'pose.json'));
      setDetected(p); commit(clonePose(p)); setDetectedJob(job.id);
      setNote(p.people.length === 0 ? 'Nobody was found in this image. Start from a standing figure instead, or try another photo.'
        : `Found ${p.people.length} ${p.people.length === 1 ? 'person' : 'people'}. Drag the points to set the target pose.`);
    } catch (e) { setError('The detected pose could not be read: ' + errorText(e)); }
  }, [detectedJob, setDetected, setDetectedJob, remember]);

  const startFigure = () => {
    commit(ref ? defaultPose(ref.width, ref.height) : defaultPose());
    setNote('A standing figure to start from. Drag its points.');
    setError(null);
  };

  const loadJson = async (f: File | undefined) => {
    if (!f) return;
    setError(null);
    try {
      if (f.size > 8 * 1024 * 1024) throw new PoseError('The pose file is larger than 8 MB.');
      const p = parsePose(await f.text(), ref ? { width: ref.width, height: ref.height } : undefined);
      commit(p);
      setNote(`Loaded ${f.name}: ${p.people.length} ${p.people.length === 1 ? 'person' : 'people'}, ${p.width}×${p.height}.`);
    } catch (e) { setError(`${f.name}: ${errorText(e)}`); }
    if (fileInput.current) fileInput.current.value = '';
  };

  const saveJson = () => {
    if (!edited) return;
    downloadBlob(new Blob([JSON.stringify(toOpenPose(edited), null, 1)], { type: 'application/json' }), 'pose.json');
  };
  const exportPng = async () => {
    if (!edited) return;
    try { downloadBlob(await poseToPng(edited), 'skeleton.png'); } catch (e) { setError(errorText(e)); }
  };
  const renderOnServer = async () => {
    if (!edited) return;
    try {
      const j = await api.createJob('pose.render', { pose: toOpenPose(edited) }, {}, s.webtoon?.id);
      setExtraJobs((x) => [{ id: j.id, title: 'Skeleton' }, ...x].slice(0, 10));
    } catch (e) { setError(errorText(e)); }
  };
  const warp = async () => {
    if (!ref || !detected || !edited) { setError('Warping needs a reference with a detected pose, and the edited pose.'); return; }
    if (detected.people.length === 0) { setError('No person was detected to warp.'); return; }
    if (detected.people.length !== edited.people.length) { setError('The edited pose must have as many people as the detected one.'); return; }
    try {
      const j = await api.createJob('pose.warp', { from: toOpenPose(detected), to: toOpenPose(edited) }, { image: ref.id }, s.webtoon?.id);
      setExtraJobs((x) => [{ id: j.id, title: 'Warped character' }, ...x].slice(0, 10));
    } catch (e) { setError(errorText(e)); }
  };

  // The drawing keeps the pose's proportions (neither the pose nor the character is stretched):
  // the shorter side as chosen, as the Background page's "Like the photo"; a 2:3 pose at 512
  // gives Moore's 512×768.
  const drawSize = pictureSize(drawSide, 'photo', edited ?? { width: 2, height: 3 });
  const transfer = async () => {
    if (!ref || !edited) { setError('Drawing needs a reference image (the character) and the edited pose.'); return; }
    try {
      const j = await api.createJob('pose.transfer', { pose: toOpenPose(edited), width: drawSize.width, height: drawSize.height, steps, cfg: 3.5 },
                                    { character: ref.id }, s.webtoon?.id);
      setExtraJobs((x) => [{ id: j.id, title: 'Character in the new pose' }, ...x].slice(0, 10));
    } catch (e) { setError(errorText(e)); }
  };

  return (
    <div className="two-col wide-right">
      <section className="card stack">
        <h2>Pose</h2>
        <ImagePicker label="Reference image" uploads={photo} onChange={choosePhoto} testId="pose-reference" />
        {canEstimate ? (
          <>
            {modelChoices.includes('dwpose') && (
              <label>Model<select aria-label="Pose model" data-testid="pose-model" value={model} onChange={(e) => setModel(e.target.value)}>
                {modelChoices.map((m) => <option key={m} value={m}>{POSE_MODEL_TITLES[m]}</option>)}
              </select></label>
            )}
            <div className="inline">
              <label className="check"><input type="checkbox" checked={dwpose || hands} disabled={dwpose} onChange={(e) => setHands(e.target.checked)} /> hands</label>
              <label className="check"><input type="checkbox" checked={dwpose || face} disabled={dwpose} onChange={(e) => setFace(e.target.checked)} /> face</label>
            </div>
            <button className="primary" onClick={detect} disabled={busy || !ref}>Detect pose</button>
          </>
        ) : s.capabilities && (
          <p className="muted small" data-testid="unavailable">Pose detection (<code>pose.estimate</code>) is not available on this server yet: it needs the pose models from the npm packages the install script sets up, or DWPose's two ONNX files in <code>OMA_MODELS/dwpose</code>. You can still start from a standing figure or a JSON file.</p>
        )}
        {estimateJob && <JobView key={estimateJob} jobId={estimateJob} title="Pose detection" compact onFinished={onEstimated}
                                 showOutputs={(n) => n.endsWith('.png')} />}
        <hr />
        <div className="stack tight">
          <button onClick={startFigure}>Start from a standing figure</button>
          <label className="file-button">Load OpenPose JSON…
            <input ref={fileInput} type="file" accept="application/json,.json" onChange={(e) => loadJson(e.target.files?.[0])} /></label>
          <button onClick={undo} disabled={history.length === 0} title="Ctrl+Z">Undo{history.length > 0 ? ` (${history.length})` : ''}</button>
          <button onClick={saveJson} disabled={!edited}>Save OpenPose JSON</button>
          <button onClick={exportPng} disabled={!edited}>Export skeleton PNG</button>
          {canRender && <button onClick={renderOnServer} disabled={!edited}>Render skeleton on the server</button>}
          {detected && <button onClick={() => { commit(clonePose(detected)); setNote('Back to the detected pose.'); }}>Reset to detected</button>}
        </div>
        <hr />
        <h3>Warp</h3>
        {canWarp ? (
          <>
            <p className="muted small">Moves the character in the reference from the detected pose to your edited pose, keeping the background.</p>
            <button className="primary" onClick={warp} disabled={!ref || !detected || !edited}>Warp to edited pose</button>
          </>
        ) : (
          <p className="muted small">Pose warping (<code>pose.warp</code>) is not available on this server yet.</p>
        )}
        {canTransfer && (
          <>
            <hr />
            <h3>Draw</h3>
            <p className="muted small">Redraws the character of the reference in your edited pose (AnimateAnyone, in the pose's proportions; a few minutes on the CPU). A transparent character is put on white.</p>
            <label className="small">Size <select value={drawSide} onChange={(e) => setDrawSide(Number(e.target.value))}>{[256, 384, 512, 640, 768].map((x) => <option key={x} value={x}>{x}</option>)}</select>
              <span className="muted" data-testid="pose-transfer-size"> {drawSize.width}×{drawSize.height}</span></label>
            <label className="small">Steps <input type="number" min={1} max={200} value={steps} onChange={(e) => setSteps(Math.max(1, Math.min(200, Number(e.target.value) || 20)))} /></label>
            <button className="primary" data-testid="pose-transfer" onClick={transfer} disabled={!ref || !edited}>Draw the character in this pose</button>
          </>
        )}
        {note && <div className="ok-text small">{note}</div>}
        {error && <div className="error-text" role="alert">{error}</div>}
      </section>
      <section className="stack">
        {edited ? (
          <div className="card stack">
            <div className="inline">
              {ref && <label className="small">Photo<input type="range" min={0} max={1} step={0.05} value={opacity} onChange={(e) => setOpacity(Number(e.target.value))} /></label>}
              {detected && <label className="check small"><input type="checkbox" checked={showGhost} onChange={(e) => setShowGhost(e.target.checked)} /> show detected pose</label>}
              <span className="muted small">{edited.width}×{edited.height} · {edited.people.length} {edited.people.length === 1 ? 'person' : 'people'}</span>
            </div>
            <PoseTools pose={edited} onChange={commit} />
            <PoseEditor pose={edited} onChange={setEdited} onEditStart={remember} imageUrl={ref ? api.uploadFileUrl(ref.id) : null}
                        imageOpacity={opacity} ghost={showGhost ? detected : null} />
          </div>
        ) : (
          <div className="card empty muted">Upload a reference and detect its pose, start from a standing figure, or load an OpenPose JSON file.</div>
        )}
        {extraJobs.map((j) => <JobView key={j.id} jobId={j.id} title={j.title} onDismiss={() => setExtraJobs((x) => x.filter((y) => y.id !== j.id))} />)}
      </section>
    </div>
  );
}

// Per-person tools: add the body points the detector missed, add or remove a person.
function PoseTools({ pose, onChange }: { pose: Pose; onChange: (p: Pose) => void }) {
  return (
    <div className="stack tight">
      {pose.people.map((q, pi) => {
        const missing = q.body.map((k, i) => (k.c > 0 ? -1 : i)).filter((i) => i >= 0);
        return (
          <div key={pi} className="missing small" data-testid="pose-person">
            <strong>Person {pi + 1}</strong>
            {missing.length > 0 && <span className="muted">missing:</span>}
            {missing.map((i) => (
              <button key={i} onClick={() => onChange(addBodyPoint(pose, pi, i))} title="Add this point, then drag it into place">+ {BODY_NAMES[i]}</button>
            ))}
            <button className="subtle" onClick={() => onChange(removePerson(pose, pi))}>Remove person</button>
          </div>
        );
      })}
      <div><button onClick={() => onChange(addPerson(pose))}>Add a person</button></div>
    </div>
  );
}
