// Agents: the registered A2A agents, their health, and a card that
// drifted (its pinned fields changed), shown as a diff against the
// adopted card, with Approve.

import { enc, get, post } from './api.js';
import { errorBox, guarded, section, table } from './common.js';
import { badge, diffView, dl, h, json, when } from './dom.js';

export function mount(main, { id }) {
	return id ? detail(main, id) : list(main);
}

function list(main) {
	const area = section();
	main.append(h('h1', null, 'Agents'), area.el);
	return {
		relevant: (c) => c.kind === 'agent',
		refresh: () => guarded(area.body, async () => {
			const { agents } = await get('/api/v1/agents?limit=1000');
			area.body.replaceChildren(table(['Agent', 'Health', 'Card', 'Skills', 'Endpoint'], agents.map((a) =>
				h('tr', { 'data-agent': a.name },
					h('td', null, h('a', { href: `#/agents/${enc(a.name)}` }, a.name), h('div', { class: 'muted' }, a.description)),
					h('td', null, badge(a.health.status), a.health.error ? h('div', { class: 'muted' }, a.health.error) : null),
					h('td', null, a.drift ? badge('drift') : badge('pinned', 'ok')),
					h('td', null, a.skills.map((s) => s.name || s.id).join(', ')),
					h('td', { class: 'muted' }, `${a.transport} ${a.url}`))),
			'No agents are registered. Register one with "gateway agents register URL" or POST /api/v1/agents.'));
		}),
	};
}

function detail(main, name) {
	const area = section();
	main.append(h('p', null, h('a', { href: '#/agents' }, '← Agents')), h('h1', null, `Agent ${name}`), area.body);
	const refresh = () => guarded(area.body, async () => {
		const a = await get(`/api/v1/agents/${enc(name)}`);
		const parts = [h('div', { class: 'card' }, dl([
			['Health', h('span', null, badge(a.health.status), ' ', a.health.error ?? '', a.health.checked_at ? h('span', { class: 'muted' }, ` checked ${when(a.health.checked_at)}`) : '')],
			['Endpoint', `${a.transport} ${a.url}`], ['Card from', a.source_url ?? 'registered by document'],
			['Protocol', a.protocol_version], ['Card hash', a.card_hash], ['Version', a.version], ['Updated', when(a.updated_at)],
		]))];
		if (a.pending) {
			const msg = h('div');
			parts.push(h('section', { class: 'card', 'data-testid': 'drift' },
				h('h2', null, 'Drift: the agent serves a changed card ', badge('drift')),
				h('p', null, a.pending.summary, h('span', { class: 'muted' }, ` (detected ${when(a.pending.detected_at)})`)),
				h('p', { class: 'muted' }, 'The adopted card stays in use until the change is approved. Lines marked − are the adopted card, + the new one.'),
				diffView(json(a.card), json(a.pending.card)),
				h('p', null, h('button', {
					id: 'approve', onclick: async (ev) => {
						ev.target.disabled = true;
						try {
							await post(`/api/v1/agents/${enc(name)}/approve`, { card_hash: a.pending.card_hash });
							await refresh();
						} catch (err) { msg.replaceChildren(errorBox(err)); ev.target.disabled = false; }
					},
				}, 'Approve the new card')), msg));
		} else {
			parts.push(h('p', { class: 'notice', 'data-testid': 'no-drift' }, 'The agent serves its adopted card.'));
		}
		parts.push(h('h2', null, 'Skills'), table(['Skill', 'Description', 'Tags'], a.skills.map((s) =>
			h('tr', null, h('td', null, s.name || s.id), h('td', null, s.description ?? ''), h('td', null, (s.tags ?? []).join(', '))))));
		parts.push(h('h2', null, 'Card'), h('pre', { 'data-testid': 'card' }, json(a.card)));
		area.body.replaceChildren(...parts);
	});
	return { relevant: (c) => c.kind === 'agent' && c.key.toLowerCase() === name.toLowerCase(), refresh };
}
