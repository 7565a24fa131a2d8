// vite-env.d.ts — tells TypeScript that Vite handles CSS imports.
declare module '*.css';
