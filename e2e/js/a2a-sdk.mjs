// Shared by the A2A e2e scripts (a2a-client.mjs: the gateway's own A2A
// endpoint; a2a-relay-client.mjs: a registered agent through the relay):
//
//   - checks: "ok   …" / "FAIL …" lines, a summary, the exit status;
//   - the wire: every fetch the SDKs make is recorded (request and response,
//     streams included) so that a failed step can show its HTTP exchanges;
//   - the two JavaScript A2A SDKs behind one plain shape: @a2a-js/sdk 1.3.0
//     (npm alias a2a-js-10, A2A 1.0, the default ClientFactory *without*
//     legacyCompat) and @a2a-js/sdk 0.3.14 (npm alias a2a-js-03, A2A 0.3).
//
// The plain shape, so that both SDKs run the same checks:
//   task:    {kind: 'task', id, contextId, state, message, artifacts}
//   status:  {kind: 'status', taskId, contextId, state, message, final}
//   artifact:{kind: 'artifact', taskId, contextId, artifact, lastChunk}
//   message: {kind: 'message', messageId, role, parts}
// where state is the 0.3 spelling ('completed'), a part is {kind: 'text', text}
// or {kind: 'data', data}, an artifact is {artifactId, name, parts}. Messages
// are sent as a list of such parts.

import { isDeepStrictEqual, inspect } from 'node:util';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';

// --- checks ------------------------------------------------------------------

let checks = 0;
const failures = [];
let runLabel = '';

// setLabel names the run in the summary of failures.
export function setLabel(label) {
	runLabel = label;
}

export function show(detail) {
	if (detail !== undefined) {
		console.log(typeof detail === 'string' ? detail : inspect(detail, { depth: 10, breakLength: 120 }).replace(/^/gm, '     '));
	}
}

// fail stops the run: later steps depend on what failed.
export function fail(what, detail) {
	console.log(`FAIL ${what}`);
	show(detail);
	summary();
	process.exit(1);
}

// check records a failure and goes on, so that one run shows every problem.
export function check(cond, what, detail) {
	checks++;
	if (cond) {
		console.log(`ok   ${what}`);
		return true;
	}
	console.log(`FAIL ${what}`);
	show(detail);
	failures.push(what);
	return false;
}

export function checkEqual(got, want, what) {
	return check(isDeepStrictEqual(got, want), what, { got, want });
}

export function summary() {
	if (failures.length > 0) {
		console.log(`\n${failures.length} of ${checks} checks failed (${runLabel}):`);
		for (const f of failures) console.log(`  - ${f}`);
	}
}

// finish ends the run: the summary and exit status 1 after a failure, else
// "PASS <n> checks: <what>" and exit status 0.
export function finish(what) {
	if (failures.length > 0) {
		summary();
		process.exit(1);
	}
	console.log(`PASS ${checks} checks: ${what}`);
	process.exit(0);
}

// deadline fails the run if it has not finished within ms: a hang is a
// failure too.
export function deadline(ms) {
	setTimeout(() => fail(`the run did not finish within ${ms / 1000}s`), ms).unref();
}

// --- the wire, as fetch sees it -------------------------------------------------
// Both SDKs call the global fetch when none is configured; recording it does
// not change how they are set up, and shows the exchanges of a failed step.

export const wire = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init = {}) => {
	const req = input instanceof Request ? input : undefined;
	const headers = new Headers(init.headers ?? req?.headers);
	const rec = {
		request: {
			method: init.method ?? req?.method ?? 'GET',
			url: String(req?.url ?? input),
			headers: pick(headers, ['a2a-version', 'a2a-extensions', 'x-a2a-extensions', 'content-type', 'accept']),
		},
	};
	if (typeof init.body === 'string') rec.request.body = parseJSON(init.body);
	wire.push(rec);
	let res;
	try {
		res = await realFetch(input, init);
	} catch (err) {
		rec.error = String(err?.cause ?? err);
		rec.done = Promise.resolve();
		throw err;
	}
	rec.response = { status: res.status, headers: pick(res.headers, ['content-type', 'a2a-version']) };
	// A clone tees the body, so the SDK still reads it as it arrives (streams too).
	rec.done = res.clone().text().then((text) => {
		rec.response.body = (res.headers.get('content-type') ?? '').startsWith('text/event-stream') ? sseEvents(text) : parseJSON(text);
	}, (err) => {
		rec.response.bodyError = String(err);
	});
	return res;
};
function pick(headers, names) {
	const out = {};
	for (const n of names) if (headers.get(n) !== null) out[n] = headers.get(n);
	return out;
}
function parseJSON(text) {
	try {
		return JSON.parse(text);
	} catch {
		return text.length > 4000 ? text.slice(0, 4000) + '…' : text;
	}
}
function sseEvents(text) {
	return text.split(/\r?\n\r?\n/).map((block) => block.split(/\r?\n/)
		.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n'))
		.filter((d) => d !== '').map(parseJSON);
}

// rpcCalls lists the A2A JSON-RPC requests in recs (the card fetches excluded).
export const rpcCalls = (recs = wire) => recs.filter((r) => r.request.method === 'POST' && r.request.body?.jsonrpc === '2.0');

// printExchanges prints recorded HTTP exchanges, once their bodies are read.
export async function printExchanges(title, recs) {
	await Promise.allSettled(recs.map((r) => r.done));
	console.log(`     --- ${title}: ${recs.length} HTTP exchange(s) ---`);
	for (const r of recs) {
		const { done, ...rest } = r;
		void done;
		console.log(JSON.stringify(rest, null, 2).replace(/^/gm, '     '));
	}
}

// step runs one part of the script: an exception fails it, and a failed step
// prints its HTTP exchanges.
export async function step(name, fn) {
	const from = wire.length;
	const before = failures.length;
	let out;
	try {
		out = await fn();
	} catch (err) {
		check(false, `${name}: ${err?.message ?? err}`, err?.cause ? { cause: err.cause } : undefined);
	}
	if (failures.length > before) await printExchanges(name, wire.slice(from));
	return out;
}

// --- the two SDKs behind one shape -----------------------------------------------

// openSDK resolves the agent card from url with the SDK for A2A version
// ('1.0' or '0.3'), as ClientFactory.createFromUrl(url) does, and returns an
// adapter:
//   label, card, client
//   connection: {protocolVersion, protocolName, endpoint} the factory picked
//   send(parts), stream(parts) (yields [plain event, SDK event]), getTask(id)
//   listTasks() (1.0 only: the plain tasks),
//   resubscribe(id) (yields [plain event, SDK event], as stream)
//   at(endpoint): an adapter with the same card pointed at another endpoint
// opts.transport ('JSONRPC' or 'HTTP+JSON') makes the factory prefer that
// transport among the card's interfaces; without it the factory picks as
// it does by default.
export function openSDK(version, url, opts = {}) {
	return version === '1.0' ? sdk10(url, opts) : sdk03(url, opts);
}

// errorNames names an error an SDK threw, and the errors it wraps (cause),
// by class and by name: both SDKs throw a plain Error whose cause is the
// A2A error ('JsonRpcUnsupportedOperationError' in 1.3.0,
// 'UnsupportedOperationJSONRPCError' named 'UnsupportedOperationError' in
// 0.3.14).
export function errorNames(err) {
	const names = [];
	for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; e = e.cause, depth++) {
		names.push(e?.constructor?.name ?? typeof e);
		if (typeof e?.name === 'string' && e.name !== names.at(-1)) names.push(e.name);
	}
	return names;
}

// The installed version of an aliased package (its exports hide package.json).
export async function sdkVersion(alias) {
	const pkg = new URL(`./node_modules/${alias}/package.json`, import.meta.url);
	return JSON.parse(await readFile(pkg, 'utf8')).version;
}

async function sdk10(url, opts = {}) {
	const { ClientFactory, ClientFactoryOptions } = await import('a2a-js-10/client');
	const { Role, taskStateToJSON } = await import('a2a-js-10');
	const pkg = await sdkVersion('a2a-js-10');
	const state = (s) => (s === undefined ? undefined : taskStateToJSON(s).replace(/^TASK_STATE_/, '').toLowerCase().replace('_', '-'));
	const part = (p) => {
		switch (p?.content?.$case) {
			case 'text': return { kind: 'text', text: p.content.value };
			case 'data': return { kind: 'data', data: p.content.value };
			default: return { kind: p?.content?.$case ?? 'unknown', raw: p };
		}
	};
	const message = (m) => m && { kind: 'message', messageId: m.messageId, role: m.role === Role.ROLE_AGENT ? 'agent' : m.role === Role.ROLE_USER ? 'user' : m.role, parts: (m.parts ?? []).map(part) };
	const artifact = (a) => a && { artifactId: a.artifactId, name: a.name, parts: (a.parts ?? []).map(part) };
	const task = (t) => ({ kind: 'task', id: t.id, contextId: t.contextId, state: state(t.status?.state), message: message(t.status?.message), artifacts: (t.artifacts ?? []).map(artifact) });
	const result = (r) => ('status' in r && 'id' in r ? task(r) : message(r));
	const event = (ev) => {
		const v = ev.payload?.value;
		switch (ev.payload?.$case) {
			case 'task': return task(v);
			case 'message': return message(v);
			// A2A 1.0 has no "final" flag: the stream ends after a terminal state.
			case 'statusUpdate': return { kind: 'status', taskId: v.taskId, contextId: v.contextId, state: state(v.status?.state), message: message(v.status?.message), final: undefined };
			case 'artifactUpdate': return { kind: 'artifact', taskId: v.taskId, contextId: v.contextId, artifact: artifact(v.artifact), lastChunk: v.lastChunk };
			default: return { kind: 'unknown', raw: ev };
		}
	};
	const sdkPart = (p) => (p.kind === 'text'
		? { content: { $case: 'text', value: p.text }, metadata: undefined, filename: '', mediaType: 'text/plain' }
		: { content: { $case: 'data', value: p.data }, metadata: undefined, filename: '', mediaType: 'application/json' });
	const request = (parts) => ({
		tenant: '',
		message: {
			messageId: randomUUID(), contextId: '', taskId: '', role: Role.ROLE_USER,
			parts: parts.map(sdkPart),
			metadata: undefined, extensions: [], referenceTaskIds: [],
		},
		configuration: undefined,
		metadata: undefined,
	});

	// The default factory: JSON-RPC and HTTP+JSON transports, no legacyCompat.
	const factory = opts.transport
		? new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { preferredTransports: [opts.transport] }))
		: new ClientFactory();
	const adapter = (client, card) => ({
		label: `@a2a-js/sdk ${pkg} (A2A 1.0, no legacyCompat)`,
		client,
		card,
		connection: { protocolVersion: client.protocolVersion, protocolName: client.transport.protocolName, endpoint: client.transport.endpoint ?? client.transport.base?.endpoint },
		send: async (parts) => result(await client.sendMessage(request(parts))),
		stream: async function* (parts) {
			for await (const ev of client.sendMessageStream(request(parts))) yield [event(ev), ev];
		},
		getTask: async (id) => task(await client.getTask({ tenant: '', id, historyLength: undefined })),
		listTasks: async () => (await client.listTasks({
			tenant: '', contextId: '', status: 0, pageSize: undefined, pageToken: '',
			historyLength: undefined, statusTimestampAfter: undefined, includeArtifacts: true,
		})).tasks.map(task),
		resubscribe: async function* (id) {
			for await (const ev of client.resubscribeTask({ tenant: '', id })) yield [event(ev), ev];
		},
		at: async (endpoint) => {
			const moved = { ...card, supportedInterfaces: (card.supportedInterfaces ?? []).map((i) => ({ ...i, url: endpoint })) };
			return adapter(await factory.createFromAgentCard(moved), moved);
		},
	});
	const client = await factory.createFromUrl(url);
	return adapter(client, await client.getAgentCard());
}

async function sdk03(url, opts = {}) {
	const { ClientFactory, ClientFactoryOptions, JsonRpcTransport, RestTransport } = await import('a2a-js-03/client');
	const pkg = await sdkVersion('a2a-js-03');
	const part = (p) => {
		switch (p?.kind) {
			case 'text': return { kind: 'text', text: p.text };
			case 'data': return { kind: 'data', data: p.data };
			default: return { kind: p?.kind ?? 'unknown', raw: p };
		}
	};
	const message = (m) => m && { kind: 'message', messageId: m.messageId, role: m.role, parts: (m.parts ?? []).map(part) };
	const artifact = (a) => a && { artifactId: a.artifactId, name: a.name, parts: (a.parts ?? []).map(part) };
	const task = (t) => ({ kind: 'task', id: t.id, contextId: t.contextId, state: t.status?.state, message: message(t.status?.message), artifacts: (t.artifacts ?? []).map(artifact), rawKind: t.kind });
	const event = (ev) => {
		switch (ev?.kind) {
			case 'task': return task(ev);
			case 'message': return message(ev);
			case 'status-update': return { kind: 'status', taskId: ev.taskId, contextId: ev.contextId, state: ev.status?.state, message: message(ev.status?.message), final: ev.final };
			case 'artifact-update': return { kind: 'artifact', taskId: ev.taskId, contextId: ev.contextId, artifact: artifact(ev.artifact), lastChunk: ev.lastChunk };
			default: return { kind: 'unknown', raw: ev };
		}
	};
	const request = (parts) => ({
		message: {
			kind: 'message', messageId: randomUUID(), role: 'user',
			parts: parts.map((p) => (p.kind === 'text' ? { kind: 'text', text: p.text } : { kind: 'data', data: p.data })),
		},
	});

	const factory = opts.transport
		? new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { preferredTransports: [opts.transport] }))
		: new ClientFactory();
	const adapter = (client, card) => ({
		label: `@a2a-js/sdk ${pkg} (A2A 0.3)`,
		client,
		card,
		// 0.3.14's transports do not name their protocol; its factory does.
		connection: {
			protocolVersion: card.protocolVersion,
			protocolName: client.transport instanceof JsonRpcTransport ? 'JSONRPC'
				: client.transport instanceof RestTransport ? 'HTTP+JSON' : client.transport?.constructor?.name,
			endpoint: client.transport.endpoint,
		},
		send: async (parts) => {
			const r = await client.sendMessage(request(parts));
			return r.kind === 'task' ? task(r) : message(r);
		},
		stream: async function* (parts) {
			for await (const ev of client.sendMessageStream(request(parts))) yield [event(ev), ev];
		},
		getTask: async (id) => task(await client.getTask({ id })),
		listTasks: async () => {
			throw new Error('A2A 0.3 has no tasks/list');
		},
		resubscribe: async function* (id) {
			for await (const ev of client.resubscribeTask({ id })) yield [event(ev), ev];
		},
		at: async (endpoint) => {
			const moved = { ...card, url: endpoint, additionalInterfaces: undefined };
			return adapter(await factory.createFromAgentCard(moved), moved);
		},
	});
	const client = await factory.createFromUrl(url);
	return adapter(client, await client.getAgentCard());
}

// --- helpers over the plain shape ---------------------------------------------------

export const textOf = (m) => (m?.parts ?? []).filter((p) => p.kind === 'text').map((p) => p.text).join('\n');
export const dataOf = (parts) => (parts ?? []).find((p) => p.kind === 'data')?.data;

// streamShape lists a stream's events as 'task:submitted', 'status:working',
// 'artifact', …, and streamLine as one readable line.
export const streamShape = (evs) => evs.map((e) => (e.kind === 'artifact' ? 'artifact' : `${e.kind}:${e.state}`));
export const streamLine = (evs) => evs.map((e) => (e.kind === 'artifact' ? `artifact(${e.artifact?.name})` : e.state ? `${e.kind}(${e.state}${e.final ? ', final' : ''})` : e.kind)).join(' → ');
