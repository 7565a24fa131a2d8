// stored.ts — state that survives a reload (localStorage), so an artist who refreshes the page
// still sees the jobs they started and the pose they were editing. Values are JSON, read back
// defensively (a stale or foreign value falls back to the initial one), and capped in size.
import { useEffect, useState } from 'react';
import type { Upload } from './api';

const MAX_CHARS = 2_000_000;

export function useStoredState<T>(key: string, initial: T, check: (v: unknown) => v is T): [T, (v: T | ((p: T) => T)) => void] {
  const [value, setValue] = useState<T>(() => read(key, initial, check));
  const [loadedKey, setLoadedKey] = useState(key);
  if (loadedKey !== key) {            // the key changed (other artist / webtoon): load its value
    setLoadedKey(key);
    setValue(read(key, initial, check));
  }
  useEffect(() => {
    try {
      const s = JSON.stringify(value);
      if (s.length <= MAX_CHARS) localStorage.setItem(key, s); else localStorage.removeItem(key);
    } catch { /* storage full or disabled: the state still works for this visit */ }
  }, [key, value]);
  return [value, setValue];
}

function read<T>(key: string, initial: T, check: (v: unknown) => v is T): T {
  try {
    const s = localStorage.getItem(key);
    if (s === null) return initial;
    const v: unknown = JSON.parse(s);
    return check(v) ? v : initial;
  } catch {
    return initial;
  }
}

export interface JobRef { id: string; title: string }
export const isJobRefs = (v: unknown): v is JobRef[] =>
  Array.isArray(v) && v.length <= 50 && v.every((j) => j && typeof j === 'object' && typeof (j as JobRef).id === 'string' && typeof (j as JobRef).title === 'string');
export const isStringOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';

/** A form's settings kept across page switches and reloads: each field keeps its default's type
 * (a stored value of another type, or a missing field, falls back to the default). */
export function useStoredForm<T extends Record<string, string | number | boolean>>(key: string, defaults: T):
  [T, <K extends keyof T>(field: K, value: T[K]) => void] {
  const check = (v: unknown): v is T => !!v && typeof v === 'object' && !Array.isArray(v);
  const [raw, setRaw] = useStoredState<T>(key, defaults, check);
  const form = { ...defaults };
  for (const k of Object.keys(defaults) as Array<keyof T>) {
    const v = (raw as Record<keyof T, unknown>)[k];
    if (typeof v === typeof defaults[k] && (typeof v !== 'number' || Number.isFinite(v))) form[k] = v as T[keyof T];
  }
  const set = <K extends keyof T>(field: K, value: T[K]) => setRaw((p) => ({ ...p, [field]: value }));
  return [form, set];
}

export const isUploads = (v: unknown): v is Upload[] => Array.isArray(v) && v.length <= 50 && v.every((u) =>
  u && typeof u === 'object' && typeof (u as Upload).id === 'string' && typeof (u as Upload).width === 'number' && typeof (u as Upload).height === 'number');
export const isString = (v: unknown): v is string => typeof v === 'string';
