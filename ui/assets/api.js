// The admin API, as the page calls it: JSON requests with the signed-in
// operator's token (held here, in memory only), and the change stream.

let token = null;
let onUnauthorized = () => {};

export function setToken(t) { token = t; }
export function hasToken() { return token != null; }
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

export class APIError extends Error {
	constructor(status, message) { super(message); this.status = status; }
}

function headers(extra) {
	const hd = { Accept: 'application/json', ...extra };
	if (token) hd.Authorization = `Bearer ${token}`;
	return hd;
}

export async function api(method, path, body) {
	const init = { method, headers: headers(body !== undefined ? { 'Content-Type': 'application/json' } : {}), cache: 'no-store' };
	if (body !== undefined) init.body = JSON.stringify(body);
	const res = await fetch(path, init);
	if (res.status === 204) return null;
	const text = await res.text();
	let data = null;
	try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
	if (!res.ok) {
		if (res.status === 401) onUnauthorized();
		throw new APIError(res.status, data?.error ?? `${res.status} ${res.statusText}`);
	}
	return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const enc = encodeURIComponent;

// follow reads GET /api/v1/changes (server-sent events) with fetch, not
// EventSource, so that the request carries the token. It reconnects with
// Last-Event-ID when a stream ends, and calls onEvent(type, data) for
// each event and onState(live) as the stream comes and goes. It stops
// when signal aborts.
export async function follow(onEvent, onState, signal) {
	let last = '';
	while (!signal.aborted) {
		try {
			const hd = headers({ Accept: 'text/event-stream' });
			if (last) hd['Last-Event-ID'] = last;
			const res = await fetch('/api/v1/changes', { headers: hd, signal, cache: 'no-store' });
			if (res.status === 401) { onState(false); onUnauthorized(); return; }
			if (!res.ok) throw new APIError(res.status, `change stream: ${res.status}`);
			const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
			let buf = '';
			for (;;) {
				const { value, done } = await reader.read();
				if (done) break;
				buf += value.replace(/\r\n?/g, '\n');
				let end;
				while ((end = buf.indexOf('\n\n')) >= 0) {
					const block = buf.slice(0, end);
					buf = buf.slice(end + 2);
					const ev = { type: 'message', data: [], id: null };
					for (const line of block.split('\n')) {
						if (line.startsWith(':')) continue;
						const i = line.indexOf(':');
						const field = i < 0 ? line : line.slice(0, i);
						const v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
						if (field === 'event') ev.type = v;
						else if (field === 'data') ev.data.push(v);
						else if (field === 'id') ev.id = v;
					}
					if (ev.id) last = ev.id;
					if (ev.data.length === 0) continue;
					if (ev.type === 'ready') onState(true);
					let data = null;
					try { data = JSON.parse(ev.data.join('\n')); } catch { /* ignore */ }
					onEvent(ev.type, data);
				}
			}
		} catch (err) {
			if (signal.aborted) return;
			console.warn('change stream:', err);
		}
		onState(false);
		await new Promise((r) => setTimeout(r, 1000));
	}
}
