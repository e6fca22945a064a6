// Audit: the tamper-evident log, filtered, newest first, and the result
// of verifying its hash chain.

import { enc, get } from './api.js';
import { errorBox, guarded, section, table } from './common.js';
import { badge, h, when } from './dom.js';

const FILTERS = [['ticket', 'Ticket'], ['principal', 'Principal'], ['action', 'Action (negotiation.*)'], ['negotiation', 'Negotiation']];

export function mount(main) {
	const area = section();
	const verdict = h('div', { 'data-testid': 'verify-result' });
	const inputs = Object.fromEntries(FILTERS.map(([k]) => [k, h('input', { name: k, size: 14 })]));
	const outcome = h('select', { name: 'outcome' }, ['', 'ok', 'error', 'denied'].map((o) => h('option', { value: o }, o || 'any')));
	const verify = h('button', {
		id: 'verify', type: 'button', class: 'secondary', onclick: async () => {
			verify.disabled = true;
			verdict.replaceChildren(h('p', { class: 'muted' }, 'Verifying the chain…'));
			try {
				const r = await get('/api/v1/audit/verify');
				verdict.replaceChildren(h('div', { class: r.ok ? 'notice' : 'error', 'data-ok': String(r.ok) }, badge(r.ok ? 'intact' : 'broken', r.ok ? 'ok' : 'bad'), ' ', r.summary));
			} catch (err) { verdict.replaceChildren(errorBox(err)); }
			verify.disabled = false;
		},
	}, 'Verify the chain');
	const view = {
		relevant: () => false, // records are not on the change feed; filter or reload to see new ones
		refresh: () => guarded(area.body, async () => {
			const q = new URLSearchParams({ order: 'desc', limit: '200' });
			for (const [k, el] of Object.entries(inputs)) if (el.value.trim()) q.set(k, el.value.trim());
			if (outcome.value) q.set('outcome', outcome.value);
			const { records } = await get(`/api/v1/audit?${q}`);
			area.body.replaceChildren(table(['Seq', 'At', 'Action', 'Target', 'Principal', 'Outcome', 'Ticket', 'Detail'], records.map((r) => h('tr', { 'data-seq': r.seq },
				h('td', null, r.seq), h('td', { class: 'muted' }, when(r.at)), h('td', null, r.action), h('td', null, r.target ?? ''),
				h('td', null, r.subject ?? '', r.client && r.client !== r.subject ? h('div', { class: 'muted' }, r.client) : null),
				h('td', null, badge(r.outcome, r.outcome === 'ok' ? 'ok' : 'bad')),
				h('td', null, r.ticket_id ? h('a', { href: `#/tickets/${enc(r.ticket_id)}` }, r.ticket_id) : ''),
				h('td', { class: 'muted' }, r.detail ? JSON.stringify(r.detail) : ''))), 'No records match.'));
		}),
	};
	main.append(h('h1', null, 'Audit log'),
		h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); view.refresh(); } },
			FILTERS.map(([k, label]) => h('label', null, label, inputs[k])), h('label', null, 'Outcome', outcome),
			h('button', { type: 'submit' }, 'Filter'), verify), verdict, area.el);
	return view;
}
