// Negotiations: the list, and one negotiation's transcript round by
// round (each move's terms and rationale) as it happens, its outcome,
// and, when it waits for a person (pending_human), the decision.

import { enc, get, post } from './api.js';
import { errorBox, guarded, section, table } from './common.js';
import { badge, dl, h, json, terms, when } from './dom.js';

export function mount(main, { id }) {
	return id ? detail(main, id) : list(main);
}

const shown = (n) => n.outcome?.decision === 'pending_human' ? 'pending_human' : n.status;

function list(main) {
	const area = section();
	const state = h('select', { name: 'state', onchange: () => view.refresh() }, [['', 'any'], ['running', 'running'], ['pending_human', 'waiting for a person'], ['done', 'done']].map(([v, l]) => h('option', { value: v }, l)));
	main.append(h('h1', null, 'Negotiations'), h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() }, h('label', null, 'State', state)), area.el);
	const view = {
		relevant: (c) => c.kind === 'negotiation',
		refresh: () => guarded(area.body, async () => {
			const q = state.value ? `&state=${enc(state.value)}` : '';
			const { negotiations } = await get(`/api/v1/negotiations?limit=500${q}`);
			negotiations.sort((a, b) => b.started_at.localeCompare(a.started_at));
			area.body.replaceChildren(table(['Negotiation', 'Ticket', 'Status', 'Participants', 'Rounds', 'Outcome', 'Started'], negotiations.map((n) =>
				h('tr', { 'data-negotiation': n.id },
					h('td', null, h('a', { href: `#/negotiations/${enc(n.id)}` }, n.id), n.rule ? h('div', { class: 'muted' }, `rule ${n.rule}`) : null),
					h('td', null, h('a', { href: `#/tickets/${enc(n.subject.id)}` }, n.subject.id)),
					h('td', null, badge(shown(n))), h('td', null, n.participants.join(' ↔ ')), h('td', null, `${n.rounds}/${n.max_rounds}`),
					h('td', null, n.outcome ? `${n.outcome.decision}${n.outcome.terms ? ` · ${terms(n.outcome.terms)}` : ''}` : '…'),
					h('td', { class: 'muted' }, when(n.started_at)))),
			'No negotiations yet. Escalation rules start them (negotiation.rules), or the start_negotiation tool.'));
		}),
	};
	return view;
}

function detail(main, id) {
	const head = h('div');
	const rounds = h('div', { class: 'rounds', 'data-testid': 'rounds', 'aria-live': 'polite' });
	const outcome = h('div');
	const decide = h('div');
	const transcript = h('div');
	main.append(h('p', null, h('a', { href: '#/negotiations' }, '← Negotiations')), h('h1', null, `Negotiation ${id}`), head,
		h('h2', null, 'Rounds'), rounds, h('h2', null, 'Outcome'), outcome, decide, h('h2', null, 'Transcript'), transcript);
	let decideShownFor = null; // the version the form was built for: kept while the operator types
	const refresh = () => guarded(head, async () => {
		const n = await get(`/api/v1/negotiations/${enc(id)}`);
		document.body.dataset.negotiationStatus = shown(n);
		head.replaceChildren(h('div', { class: 'card' }, dl([
			['Status', badge(shown(n))], ['Ticket', h('a', { href: `#/tickets/${enc(n.subject.id)}` }, n.subject.id)],
			['Question', n.question], ['Participants', n.participants.join(' ↔ ')], ['Asked for', terms(n.requested_terms)],
			['Rounds', `${n.rounds} of at most ${n.max_rounds}`], ['Fallback', n.fallback], ['Rule', n.rule],
			['Started', `${when(n.started_at)} by ${n.started_by}`], ['Deadline', when(n.deadline)],
		])));
		rounds.replaceChildren(...(n.moves.length ? n.moves.map((m) => h('div', { class: `move ${m.move}`, 'data-round': m.round },
			h('strong', null, `Round ${m.round}`), h('span', null, m.by), h('span', null, badge(m.move, m.move === 'accept' ? 'ok' : m.move === 'reject' ? 'bad' : '')),
			h('span', { class: 'terms' }, terms(m.terms)), m.rationale ? h('div', { class: 'rationale' }, `“${m.rationale}”`) : null))
			: [h('p', { class: 'muted' }, 'No move yet.')]));
		const o = n.outcome;
		outcome.replaceChildren(o ? h('div', { class: 'card outcome', 'data-testid': 'outcome' }, dl([
			['Decision', badge(o.decision)], ['Status', o.status], ['Terms', terms(o.terms)], ['Reason', o.reason],
			['Decided by', o.decided_by], ['Decided', when(o.decided_at)],
		])) : h('p', { class: 'muted', 'data-testid': 'outcome-pending' }, 'Under way…'));
		if (o?.decision === 'pending_human') {
			if (decideShownFor !== n.version) { decideShownFor = n.version; decide.replaceChildren(decideForm(n, refresh)); }
		} else { decideShownFor = null; decide.replaceChildren(); }
		transcript.replaceChildren(table(['At', 'Kind', 'Round', 'Participant', 'Text'], n.transcript.map((e) => h('tr', null,
			h('td', { class: 'muted' }, when(e.at)), h('td', null, e.kind), h('td', null, e.round ?? ''), h('td', null, e.participant ?? ''),
			h('td', null, e.error ? h('span', { class: 'error' }, e.error) : (e.text ?? ''), e.data && e.kind !== 'turn' ? h('pre', null, json(e.data)) : null)))));
	});
	return { relevant: (c) => c.kind === 'negotiation' && c.key === id, refresh };
}

function decideForm(n, refresh) {
	const standing = n.moves.length ? n.moves[n.moves.length - 1].terms : n.requested_terms;
	const amount = h('input', { name: 'amount', type: 'number', step: '0.01', min: '0', value: standing?.amount ?? '' });
	const reason = h('input', { name: 'reason', size: 40, placeholder: 'why (recorded with the outcome)' });
	const msg = h('div');
	const send = async (decision, btn) => {
		btn.disabled = true;
		const body = { decision, reason: reason.value };
		if (decision === 'approve' && amount.value !== '') body.terms = { ...(standing ?? {}), amount: Number(amount.value) };
		try { await post(`/api/v1/negotiations/${enc(n.id)}/decide`, body); await refresh(); } catch (err) { msg.replaceChildren(errorBox(err)); btn.disabled = false; }
	};
	return h('section', { class: 'card', 'data-testid': 'decide' },
		h('h2', null, 'A person must decide'),
		h('p', { class: 'muted' }, 'The participants reached no agreement and the fallback asks a person. Your decision is written back into the ticket and audited.'),
		h('form', { class: 'decide', onsubmit: (e) => e.preventDefault() },
			h('label', null, 'Amount to approve', amount), h('label', null, 'Reason', reason),
			h('button', { id: 'decide-approve', type: 'button', onclick: (e) => send('approve', e.target) }, 'Approve'),
			h('button', { id: 'decide-deny', type: 'button', class: 'danger', onclick: (e) => send('deny', e.target) }, 'Deny')),
		msg);
}
