// SPDX-License-Identifier: Apache-2.0
//
// static/ui.js -- what every page shares: html (htm bound to Preact),
// hooks, the signed-in context (role, event stream), small widgets
// (error box, empty state, time), and useLoad for "fetch, show, retry".

import { h, createContext } from './vendor/preact.module.js';
import { useState, useEffect, useContext, useCallback, useRef } from './vendor/hooks.module.js';
import htm from './vendor/htm.module.js';

export const html = htm.bind(h);
export { useState, useEffect, useContext, useCallback, useRef };

// { me: {name, role}, events: eventStream, log: [..] }
export const Session = createContext(null);
export const useSession = () => useContext(Session);

const RANK = { viewer: 1, operator: 2, admin: 3 };
// can(me, 'operator'): does the token's role reach that role?
export const can = (me, role) => !!me && (RANK[me.role] || 0) >= RANK[role];

export function when(t) {
  if (!t) return '';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString();
}

export function ErrorBox({ error, onRetry }) {
  if (!error) return null;
  return html`<div class="error" role="alert">
    <strong>${error.status ? `${error.status} ${error.code}` : 'Error'}:</strong> ${error.message}
    ${onRetry && html` <button type="button" onClick=${onRetry}>Retry</button>`}
  </div>`;
}

export function Empty({ title, children }) {
  return html`<div class="empty"><p class="empty-title">${title}</p>${children}</div>`;
}

// const [data, error, reload] = useLoad(() => api(...), [deps])
export function useLoad(fn, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const seq = useRef(0);
  const load = useCallback(() => {
    const n = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    fn().then((data) => n === seq.current && setState({ data, error: null, loading: false }),
              (error) => n === seq.current && setState({ data: null, error, loading: false }));
  }, deps);
  useEffect(load, [load]);
  return [state.data, state.error, load, state.loading];
}

// Subscribes to the live event stream for the component's lifetime.
export function useEvents(fn, deps) {
  const s = useSession();
  useEffect(() => s.events.subscribe(fn), deps);
}
