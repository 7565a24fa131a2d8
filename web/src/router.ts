// router.ts — a tiny hash router (#/gallery, #/pose, ...). Hash routes need no server-side
// fallback, so `oma serve` only has to serve static files, and a reload keeps the page.
import { useEffect, useState } from 'react';

export type Route = 'styles' | 'background' | 'pose' | 'gallery' | 'tools' | 'account';
export const ROUTES: Array<{ id: Route; label: string }> = [
  { id: 'styles', label: 'Styles' },
  { id: 'background', label: 'Background' },
  { id: 'pose', label: 'Pose' },
  { id: 'gallery', label: 'Gallery' },
  { id: 'tools', label: 'Tools' },
];

// Pages reached from the header rather than the tabs.
const OTHER: Route[] = ['account'];

function parse(hash: string): Route {
  const id = hash.replace(/^#\/?/, '').split(/[/?]/)[0];
  return (ROUTES.find((r) => r.id === id)?.id) ?? OTHER.find((r) => r === id) ?? 'gallery';
}

export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(() => parse(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parse(window.location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function go(route: Route) {
  window.location.hash = '#/' + route;
}
