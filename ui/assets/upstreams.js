// Upstreams: the MCP servers Parley fronts, their connection, the tools
// they serve, and tools whose definition changed (held back until
// approved).

import { enc, get, post } from './api.js';
import { errorBox, guarded, section, table } from './common.js';
import { badge, dl, h, when } from './dom.js';

export function mount(main, { id }) {
	return id ? detail(main, id) : list(main);
}

const health = (u) => !u.status ? badge('unknown', '') : u.status.healthy ? badge('healthy') : badge('unreachable');

function list(main) {
	const area = section();
	main.append(h('h1', null, 'Upstreams'), area.el);
	return {
		relevant: (c) => c.kind === 'upstream' || c.kind === 'upstream_tool',
		refresh: () => guarded(area.body, async () => {
			const { upstreams } = await get('/api/v1/upstreams');
			area.body.replaceChildren(table(['Upstream', 'Health', 'Tools', 'Held back', 'Source'], upstreams.map((u) =>
				h('tr', { 'data-upstream': u.name },
					h('td', null, h('a', { href: `#/upstreams/${enc(u.name)}` }, u.name), h('div', { class: 'muted' }, u.kind === 'http' ? u.url : (u.command ?? []).join(' '))),
					h('td', null, health(u), u.status?.last_error ? h('div', { class: 'muted' }, u.status.last_error) : null),
					h('td', null, (u.status?.tools ?? []).length),
					h('td', null, (u.status?.held_back ?? []).length ? badge(`${u.status.held_back.length} drifted`, 'drift') : '—'),
					h('td', { class: 'muted' }, u.source))),
			'No upstream MCP servers are registered (mcp.upstreams in the config, or POST /api/v1/upstreams).'));
		}),
	};
}

function detail(main, name) {
	const area = section();
	main.append(h('p', null, h('a', { href: '#/upstreams' }, '← Upstreams')), h('h1', null, `Upstream ${name}`), area.body);
	const refresh = () => guarded(area.body, async () => {
		const u = await get(`/api/v1/upstreams/${enc(name)}`);
		const parts = [h('div', { class: 'card' }, dl([
			['Health', h('span', null, health(u), ' ', u.status?.last_error ?? '', u.status?.since ? h('span', { class: 'muted' }, ` since ${when(u.status.since)}`) : '')],
			['Protocol', u.status?.generation], ['Kind', u.kind], ['URL', u.url], ['Command', (u.command ?? []).join(' ')],
			['Prefix', u.prefix], ['Source', u.source], ['Updated', when(u.updated_at)],
		]))];
		if ((u.drift ?? []).length) {
			const msg = h('div');
			parts.push(h('section', { class: 'card', 'data-testid': 'drift' },
				h('h2', null, 'Drifted tools ', badge('drift')),
				h('p', { class: 'muted' }, 'These tools changed their definition since it was approved; hosts do not see them until it is approved again.'),
				table(['Tool', 'Served as', 'Approved', 'Now', 'Detected'], u.drift.map((d) => h('tr', null,
					h('td', null, d.tool), h('td', null, d.exposed), h('td', { class: 'muted' }, d.approved_hash.slice(0, 19)),
					h('td', { class: 'muted' }, d.seen_hash.slice(0, 19)), h('td', null, when(d.detected_at))))),
				h('p', null, h('button', {
					id: 'approve', onclick: async (ev) => {
						ev.target.disabled = true;
						try { await post(`/api/v1/upstreams/${enc(name)}/approve`, {}); await refresh(); } catch (err) { msg.replaceChildren(errorBox(err)); ev.target.disabled = false; }
					},
				}, 'Approve the changed tools')), msg));
		} else {
			parts.push(h('p', { class: 'notice', 'data-testid': 'no-drift' }, 'Every tool serves the definition that was approved.'));
		}
		const held = new Set(u.status?.held_back ?? []);
		const tools = [...(u.status?.tools ?? []), ...held];
		parts.push(h('h2', null, 'Tools'), table(['Tool', 'State'], tools.map((t) => h('tr', null, h('td', null, t), h('td', null, held.has(t) ? badge('held back', 'drift') : badge('served', 'ok')))),
			'No tools (yet): the connection reports none.'));
		if ((u.status?.prompts ?? []).length) parts.push(h('h2', null, 'Prompts'), h('p', null, u.status.prompts.join(', ')));
		area.body.replaceChildren(...parts);
	});
	return { relevant: (c) => (c.kind === 'upstream' || c.kind === 'upstream_tool') && c.key === name, refresh };
}
