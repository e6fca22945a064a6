// The admin UI's shell: configuration, sign-in, the hash router
// (#/agents, #/agents/NAME, …) and live updates. Each page module
// exports mount(main, params) → { refresh(), relevant(change) }: the
// shell refetches the page when the change stream reports something the
// page shows.

import { api, follow, setToken, setUnauthorizedHandler } from './api.js';
import { claims, completeSignIn, signIn } from './auth.js';
import { h } from './dom.js';
import * as agents from './agents.js';
import * as upstreams from './upstreams.js';
import * as tickets from './tickets.js';
import * as negotiations from './negotiations.js';
import * as audit from './audit.js';

const pages = { agents, upstreams, tickets, negotiations, audit };
const main = document.getElementById('main');
let current = null; // { page, refresh, relevant }
let cfg = null;

function route() {
	const [name, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
	const page = pages[name] ? name : 'negotiations';
	return { page, id: rest.length ? decodeURIComponent(rest.join('/')) : '' };
}

function show() {
	const r = route();
	for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === r.page);
	main.replaceChildren();
	document.body.dataset.page = r.page;
	document.body.dataset.route = location.hash; // tells a test which view is shown
	const view = pages[r.page].mount(main, { id: r.id });
	current = { ...view, refresh: serialized(view.refresh) };
	current.refresh();
}

// serialized runs f one call at a time; calls made meanwhile are folded
// into one more run, so a burst of changes costs at most two fetches.
function serialized(f) {
	let running = null, again = false;
	const run = async () => {
		if (running) { again = true; return running; }
		running = (async () => {
			do {
				again = false;
				try { await f(); } catch (err) { console.error(err); }
			} while (again);
		})();
		await running;
		running = null;
	};
	return run;
}

function liveUpdates() {
	const live = document.getElementById('live');
	const ctl = new AbortController();
	follow((type, data) => {
		if (!current) return;
		if (type === 'reset' || (type === 'change' && current.relevant?.(data))) current.refresh();
	}, (on) => {
		live.dataset.live = on ? 'on' : 'off';
		live.textContent = on ? 'live' : 'offline';
		if (on) current?.refresh(); // catch up on what happened while offline
	}, ctl.signal);
}

function signInPage(message) {
	main.replaceChildren(h('div', { class: 'signin card' },
		h('h1', null, 'Sign in to Parley'),
		message ? h('p', { class: 'error' }, message) : null,
		cfg.client_id
			? h('button', { id: 'signin', onclick: () => signIn(cfg).catch((e) => signInPage(e.message)) }, 'Sign in with your identity provider')
			: h('p', { class: 'error' }, 'The gateway verifies tokens from an identity provider, but no client is configured for this page: set ui.client_id (PARLEY_UI_CLIENT_ID).'),
		h('p', { class: 'muted' }, `Issuer: ${cfg.issuer}`)));
}

async function start() {
	cfg = await api('GET', '/ui/config.json');
	document.getElementById('foot').textContent = `Parley ${cfg.version ?? ''} · admin UI · ${cfg.auth ? 'signed-in access' : 'no-auth mode (loopback only)'}`;
	if (cfg.auth) {
		let tok = null;
		try { tok = await completeSignIn(cfg); } catch (err) { signInPage(err.message); return; }
		if (!tok) { signInPage(); return; }
		setToken(tok.access_token);
		const c = claims(tok.access_token);
		document.getElementById('who').textContent = `signed in as ${c.sub ?? c.client_id ?? 'unknown'}`;
		setUnauthorizedHandler(() => { setToken(null); current = null; signInPage('Your session ended; sign in again.'); });
	}
	window.addEventListener('hashchange', show);
	show();
	liveUpdates();
}

start().catch((err) => main.replaceChildren(h('p', { class: 'error' }, `The UI could not start: ${err.message}`)));
