/** Small building blocks shared by the pages: data loading hooks, notices, stat cards, badges. */
import { html } from 'htm/preact';
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from './api.js';

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `load` now, whenever `key` changes, on `reload()`, and every `intervalMs` when given. An
 * answer that arrives after a newer request started (or after unmount) is dropped.
 */
export function useLoad<T>(load: () => Promise<T>, key: string, intervalMs?: number): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const reload = useCallback(() => {
    const mine = ++generation.current;
    setLoading(true);
    loadRef.current().then(
      (value) => {
        if (mine !== generation.current) return;
        setData(value);
        setError(null);
        setLoading(false);
      },
      (failure: unknown) => {
        if (mine !== generation.current) return;
        setError(errorText(failure));
        setLoading(false);
      },
    );
  }, []);

  useEffect(() => {
    setData(null);
    reload();
    if (intervalMs === undefined) return () => void generation.current++;
    const timer = setInterval(reload, intervalMs);
    return () => {
      clearInterval(timer);
      generation.current++;
    };
  }, [key, intervalMs]);

  return { data, error, loading, reload };
}

export function Notice({ kind, children }: { kind: 'error' | 'info' | 'success'; children: ComponentChildren }) {
  return html`<div class="notice notice-${kind}" role=${kind === 'error' ? 'alert' : 'status'}>${children}</div>`;
}

export function Stat({ label, value, detail }: { label: string; value: ComponentChildren; detail?: ComponentChildren }) {
  return html`
    <div class="stat">
      <div class="stat-label">${label}</div>
      <div class="stat-value">${value}</div>
      ${detail !== undefined && html`<div class="stat-detail">${detail}</div>`}
    </div>
  `;
}

export function Badge({ tone, children }: { tone: 'ok' | 'warn' | 'bad' | 'muted'; children: ComponentChildren }) {
  return html`<span class="badge badge-${tone}">${children}</span>`;
}

export function PageHeader({ title, subtitle, children }: { title: string; subtitle?: string; children?: ComponentChildren }) {
  return html`
    <header class="page-header">
      <div>
        <h1>${title}</h1>
        ${subtitle && html`<p class="subtitle">${subtitle}</p>`}
      </div>
      <div class="page-actions">${children}</div>
    </header>
  `;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return html`<div class="empty">${children}</div>`;
}

/** A value cell: the text cut at `charsMax` with the whole of it on hover, or a dim "null". */
export function Clip({ text, charsMax = 80 }: { text: string | null; charsMax?: number }) {
  if (text === null) return html`<span class="null">null</span>`;
  const cut = text.length > charsMax ? `${text.slice(0, charsMax)}…` : text;
  return html`<span class="mono" title=${text.length > charsMax ? text : undefined}>${cut}</span>`;
}
