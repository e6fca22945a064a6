// What the pages share: an error box, tables, status filters.

import { h } from './dom.js';

export function errorBox(err) {
	return h('div', { class: 'error', role: 'alert' }, err?.message ?? String(err));
}

export function table(headers, rows, empty = 'Nothing yet.') {
	if (rows.length === 0) return h('p', { class: 'muted' }, empty);
	return h('table', null, h('thead', null, h('tr', null, headers.map((x) => h('th', null, x)))), h('tbody', null, rows));
}

// section is a titled area whose content a page replaces on refresh.
export function section(title, attrs) {
	const body = h('div', attrs);
	return { el: h('section', null, title ? h('h2', null, title) : null, body), body };
}

// guarded runs a page's fetch and render, showing an error instead of a
// stale view when the fetch fails.
export async function guarded(area, f) {
	try { await f(); } catch (err) { area.replaceChildren(errorBox(err)); }
}
