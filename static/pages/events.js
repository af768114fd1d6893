// SPDX-License-Identifier: Apache-2.0
//
// static/pages/events.js -- the live event log: every event since sign-in
// (newest first, up to 500), filterable by kind or endpoint.

import { html, useState, useEvents, useSession, Empty, when } from '../ui.js';
import { enc } from '../api.js';

export function EventLog() {
  const { log } = useSession();
  const [, setTick] = useState(0);
  const [filter, setFilter] = useState('');
  useEvents(() => setTick((t) => t + 1), []);
  const shown = filter ? log.filter((e) => e.kind.includes(filter) || (e.endpoint || '').includes(filter)) : log;
  return html`<section aria-labelledby="ev-title">
    <div class="titlebar"><h1 id="ev-title">Live events</h1>
      <label class="search"><span class="sr-only">Filter</span>
        <input type="search" placeholder="Filter by kind or endpoint…" value=${filter}
               onInput=${(e) => setFilter(e.target.value)} /></label></div>
    ${shown.length === 0 && html`<${Empty} title="No event since you signed in.">
      <p>Registrations, updates, notifications, commands and bootstrap sessions appear here as they happen.</p></${Empty}>`}
    ${shown.length > 0 && html`<div class="table-wrap"><table class="events"><thead><tr><th>#</th><th>When</th>
      <th>Kind</th><th>Endpoint</th><th>Detail</th></tr></thead>
      <tbody>${shown.map((e) => html`<tr key=${e.id}><td>${e.id}</td><td>${when(e.at)}</td>
        <td><span class="badge">${e.kind}</span></td>
        <td>${e.endpoint && html`<a href=${`#/devices/${enc(e.endpoint)}`}>${e.endpoint}</a>`}</td>
        <td class="mono small">${e.detail ? JSON.stringify(e.detail) : ''}</td></tr>`)}</tbody></table></div>`}
  </section>`;
}
