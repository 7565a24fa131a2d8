// App.tsx — the shell: sign-in gate, header (brand, webtoon picker, account), navigation and
// the current page. Pages get the selected webtoon from the session; without one they say so.
import { api } from './api';
import { AccountPage } from './pages/AccountPage';
import { AuthPage } from './pages/AuthPage';
import { BackgroundPage } from './pages/BackgroundPage';
import { GalleryPage } from './pages/GalleryPage';
import { PosePage } from './pages/PosePage';
import { StylesPage } from './pages/StylesPage';
import { ToolsPage } from './pages/ToolsPage';
import { ROUTES, useRoute, type Route } from './router';
import { useSession } from './session';
import { WebtoonPicker } from './components/WebtoonPicker';

function Page({ route }: { route: Route }) {
  switch (route) {
    case 'styles': return <StylesPage />;
    case 'background': return <BackgroundPage />;
    case 'pose': return <PosePage />;
    case 'tools': return <ToolsPage />;
    case 'account': return <AccountPage />;
    default: return <GalleryPage />;
  }
}

export function App() {
  const s = useSession();
  const route = useRoute();
  if (s.loading) return <div className="splash">Loading…</div>;
  if (!s.artist) return <AuthPage />;
  const logout = async () => {
    try { await api.logout(); } catch { /* the session ends here either way */ }
    s.setArtist(null);
  };
  return (
    <div className="app">
      <header className="topbar">
        <div className="brand"><img src="/favicon.svg" alt="" /> Oh My Assistant</div>
        <WebtoonPicker />
        <div className="account">
          <a className="who" href="#/account" title={`${s.artist.email}: account and API tokens`}
             aria-current={route === 'account' ? 'page' : undefined}>{s.artist.name}</a>
          <button className="link" onClick={logout}>Log out</button>
        </div>
      </header>
      <nav className="tabs" aria-label="Pages">
        {ROUTES.map((r) => (
          <a key={r.id} href={'#/' + r.id} className={route === r.id ? 'tab active' : 'tab'}
             aria-current={route === r.id ? 'page' : undefined}>{r.label}</a>
        ))}
      </nav>
      {s.capabilityError && (
        <div className="banner error">Could not read what this server can do: {s.capabilityError}</div>
      )}
      {s.workers === 0 && (
        <div className="banner warn" data-testid="no-workers">This server runs no workers: jobs wait in the queue until one starts (oma serve --workers N).</div>
      )}
      <main className="page"><Page route={route} /></main>
    </div>
  );
}
