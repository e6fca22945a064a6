// Tickets: the support pipeline's shared state. The list, and a ticket
// with its approval (a negotiation's outcome), analyses, history and
// negotiations, updated as agents write.

import { enc, get } from './api.js';
import { guarded, section, table } from './common.js';
import { badge, dl, h, json, terms, when } from './dom.js';

const STATUSES = ['new', 'triaged', 'escalated', 'negotiating', 'resolved', 'closed'];

export function mount(main, { id }) {
	return id ? detail(main, id) : list(main);
}

function list(main) {
	const area = section();
	const status = h('select', { name: 'status', onchange: () => view.refresh() }, h('option', { value: '' }, 'any'), STATUSES.map((s) => h('option', { value: s }, s)));
	main.append(h('h1', null, 'Tickets'), h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() }, h('label', null, 'Status', status)), area.el);
	let seen = new Map(); // id → version, to flash rows that changed
	const view = {
		relevant: (c) => c.kind === 'ticket',
		refresh: () => guarded(area.body, async () => {
			const q = status.value ? `&status=${enc(status.value)}` : '';
			const { tickets } = await get(`/api/v1/tickets?limit=500${q}`);
			tickets.sort((a, b) => b.updated_at.localeCompare(a.updated_at));
			const next = new Map(tickets.map((t) => [t.id, t.version]));
			area.body.replaceChildren(table(['Ticket', 'Customer', 'Status', 'Category', 'Refund', 'Approval', 'Updated'], tickets.map((t) =>
				h('tr', { 'data-ticket': t.id, class: seen.size && seen.get(t.id) !== t.version ? 'flash' : null },
					h('td', null, h('a', { href: `#/tickets/${enc(t.id)}` }, t.id)), h('td', null, t.customer),
					h('td', null, badge(t.status)), h('td', null, t.category), h('td', null, t.refund_amount ? t.refund_amount.toFixed(2) : ''),
					h('td', null, t.approval ? badge(t.approval.decision) : ''), h('td', { class: 'muted' }, when(t.updated_at)))),
			'No tickets yet. Agents and hosts create them with the save_ticket tool.'));
			seen = next;
		}),
	};
	return view;
}

function detail(main, id) {
	const area = section();
	main.append(h('p', null, h('a', { href: '#/tickets' }, '← Tickets')), h('h1', null, `Ticket ${id}`), area.body);
	return {
		relevant: (c) => (c.kind === 'ticket' && c.key === id) || (c.kind === 'analysis' && c.key.startsWith(`${id}/`)) || c.kind === 'negotiation',
		refresh: () => guarded(area.body, async () => {
			const d = await get(`/api/v1/tickets/${enc(id)}`);
			const t = d.ticket;
			const parts = [h('div', { class: 'card', 'data-testid': 'ticket' }, dl([
				['Status', badge(t.status)], ['Customer', t.customer], ['Category', t.category], ['Priority', t.priority],
				['Summary', t.summary], ['Refund asked', t.refund_amount ? t.refund_amount.toFixed(2) : ''],
				['Escalated', t.escalated ? `yes${t.escalation_reason ? `: ${t.escalation_reason}` : ''}` : 'no'],
				['Resolution', t.resolution], ['Version', t.version], ['Updated', when(t.updated_at)],
			]))];
			parts.push(h('h2', null, 'Approval'));
			if (t.approval) {
				const a = t.approval;
				parts.push(h('div', { class: 'card', 'data-testid': 'approval' }, dl([
					['Decision', badge(a.decision)], ['Negotiation', h('a', { href: `#/negotiations/${enc(a.negotiation_id)}` }, `${a.negotiation_id} (${a.status}, ${a.rounds} rounds)`)],
					['Terms', terms(a.terms)], ['Reason', a.reason], ['Decided by', a.decided_by], ['Decided', when(a.decided_at)],
				])));
			} else parts.push(h('p', { class: 'muted' }, 'No decision on a refund yet.'));
			parts.push(h('h2', null, 'Negotiations'), table(['Negotiation', 'Status', 'Participants', 'Rounds', 'Started'], d.negotiations.map((n) => h('tr', null,
				h('td', null, h('a', { href: `#/negotiations/${enc(n.id)}` }, n.id)), h('td', null, badge(n.outcome?.decision === 'pending_human' ? 'pending_human' : n.status)),
				h('td', null, n.participants.join(' ↔ ')), h('td', null, `${n.rounds}/${n.max_rounds}`), h('td', { class: 'muted' }, when(n.started_at)))), 'None.'));
			parts.push(h('h2', null, 'Analyses'), d.analyses.length === 0 ? h('p', { class: 'muted' }, 'None yet.') :
				h('div', { class: 'grid' }, d.analyses.map((a) => h('div', { class: 'card', 'data-analysis': a.namespace },
					h('strong', null, a.namespace), h('span', { class: 'muted' }, ` by ${a.author}, ${when(a.updated_at)}`), h('pre', null, json(a.findings))))));
			parts.push(h('h2', null, 'History'), table(['Version', 'Action', 'By', 'At', 'Detail'], d.history.slice().reverse().map((e) => h('tr', null,
				h('td', null, e.version), h('td', null, e.action), h('td', null, e.actor), h('td', { class: 'muted' }, when(e.at)),
				h('td', { class: 'muted' }, e.detail ? JSON.stringify(e.detail) : '')))));
			area.body.replaceChildren(...parts);
		}),
	};
}
