// session.tsx — the app's shared state: who is signed in, their webtoons, the webtoon being
// worked on (remembered across reloads), and which job kinds this server can run now.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import { SESSION_ENDED, api, type Artist, type Capability, type Webtoon } from './api';

interface Session {
  artist: Artist | null;
  loading: boolean;
  setArtist: (a: Artist | null) => void;
  webtoons: Webtoon[];
  webtoon: Webtoon | null;
  selectWebtoon: (id: string | null) => void;
  reloadWebtoons: (select?: string) => Promise<void>;
  capabilities: Capability[] | null;
  capabilityError: string | null;
  kindAvailable: (kind: string) => boolean;
  samplers: string[] | null;  // generate samplers the server accepts (A1111 names, its order)
  poseModels: string[] | null;  // pose.estimate's params.model choices that run here (dwpose needs its ONNX files)
  precision: { default: string; choices: string[] } | null;  // generate's params.precision: the workers' default and the choices
  workers: number | null;   // from /api/health; 0 means jobs wait in the queue
}

const Ctx = createContext<Session | null>(null);
const WEBTOON_KEY = 'oma.webtoon';

export function SessionProvider({ children }: { children: ReactNode }) {
  const [artist, setArtist] = useState<Artist | null>(null);
  const [loading, setLoading] = useState(true);
  const [webtoons, setWebtoons] = useState<Webtoon[]>([]);
  const [selected, setSelected] = useState<string | null>(() => localStorage.getItem(WEBTOON_KEY));
  const [capabilities, setCapabilities] = useState<Capability[] | null>(null);
  const [capabilityError, setCapabilityError] = useState<string | null>(null);
  const [samplers, setSamplers] = useState<string[] | null>(null);
  const [poseModels, setPoseModels] = useState<string[] | null>(null);
  const [precision, setPrecision] = useState<{ default: string; choices: string[] } | null>(null);
  const [workers, setWorkers] = useState<number | null>(null);

  useEffect(() => {
    api.me().then(setArtist).catch(() => setArtist(null)).finally(() => setLoading(false));
    api.capabilities().then((c) => {
      setCapabilities(Array.isArray(c.kinds) ? c.kinds : []);
      if (Array.isArray(c.samplers)) setSamplers(c.samplers.filter((x) => typeof x === 'string'));
      if (Array.isArray(c.pose_models))
        setPoseModels(c.pose_models.filter((m) => m && typeof m.name === 'string' && m.available === true).map((m) => m.name));
      const p = c.precision;
      if (p && typeof p.default === 'string' && Array.isArray(p.choices))
        setPrecision({ default: p.default, choices: p.choices.filter((x) => typeof x === 'string') });
    })
      .catch((e) => setCapabilityError(String(e.message ?? e)));
    api.health().then((h) => setWorkers(typeof h.workers === 'number' ? h.workers : null)).catch(() => setWorkers(null));
  }, []);

  useEffect(() => {
    const ended = () => setArtist(null);
    window.addEventListener(SESSION_ENDED, ended);
    return () => window.removeEventListener(SESSION_ENDED, ended);
  }, []);

  const selectWebtoon = useCallback((id: string | null) => {
    setSelected(id);
    if (id) localStorage.setItem(WEBTOON_KEY, id); else localStorage.removeItem(WEBTOON_KEY);
  }, []);

  const reloadWebtoons = useCallback(async (select?: string) => {
    const r = await api.webtoons();
    const list = Array.isArray(r.webtoons) ? r.webtoons : [];
    setWebtoons(list);
    setSelected((cur) => {
      const want = select ?? cur;
      const id = want && list.some((w) => w.id === want) ? want : (list[0]?.id ?? null);
      if (id) localStorage.setItem(WEBTOON_KEY, id); else localStorage.removeItem(WEBTOON_KEY);
      return id;
    });
  }, []);

  useEffect(() => {
    if (artist) reloadWebtoons().catch(() => setWebtoons([]));
    else setWebtoons([]);
  }, [artist, reloadWebtoons]);

  const kindAvailable = useCallback(
    (kind: string) => !!capabilities?.some((k) => k.name === kind && k.available), [capabilities]);

  const webtoon = webtoons.find((w) => w.id === selected) ?? null;
  return (
    <Ctx.Provider value={{ artist, loading, setArtist, webtoons, webtoon, selectWebtoon, reloadWebtoons,
      capabilities, capabilityError, kindAvailable, samplers, poseModels, precision, workers }}>
      {children}
    </Ctx.Provider>
  );
}

export function useSession(): Session {
  const s = useContext(Ctx);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}
