#!/usr/bin/env node
// Drives a running Parley gateway's own A2A endpoint (the shared-workspace
// skill) with the JavaScript A2A SDK, as a user of that SDK would: its
// ClientFactory resolves the agent card from the base URL and picks the
// transport, then sendMessage, sendMessageStream and getTask.
//
//   node a2a-client.mjs <gateway-base-url> <1.0|0.3>
//
//   1.0: @a2a-js/sdk 1.3.0 (npm alias a2a-js-10), the default ClientFactory,
//        *without* legacyCompat: it must pick the card's JSON-RPC 1.0
//        interface and speak A2A 1.0 on the wire.
//   0.3: @a2a-js/sdk 0.3.14 (npm alias a2a-js-03), the default ClientFactory:
//        A2A 0.3 (the card's url / preferredTransport).
//
// The base URL may also come from PARLEY_BASE_URL. Prints one line per check
// ("ok   …" or "FAIL …"); after a failed step it prints that step's HTTP
// exchanges (requests and responses as seen by fetch) to show what went over
// the wire. Ends with "PASS <n> checks" or a list of the failures, and exits 1
// on any failure (2 on bad usage).

import { isDeepStrictEqual, inspect } from 'node:util';
import { randomUUID } from 'node:crypto';

const usage = 'usage: node a2a-client.mjs <gateway-base-url> <1.0|0.3>  (or set PARLEY_BASE_URL)';
const base = (process.argv[2] ?? process.env.PARLEY_BASE_URL ?? '').replace(/\/+$/, '');
const version = process.argv[3];
if (!base || !['1.0', '0.3'].includes(version)) {
	console.error(usage);
	process.exit(2);
}

// The whole run must finish in this time; a hang is a failure too.
const overall = setTimeout(() => fail('the run did not finish within 90s'), 90_000);
overall.unref();

// --- checks ------------------------------------------------------------------

let checks = 0;
const failures = [];
function show(detail) {
	if (detail !== undefined) {
		console.log(typeof detail === 'string' ? detail : inspect(detail, { depth: 10, breakLength: 120 }).replace(/^/gm, '     '));
	}
}
// fail stops the run: later steps depend on what failed.
function fail(what, detail) {
	console.log(`FAIL ${what}`);
	show(detail);
	summary();
	process.exit(1);
}
// check records a failure and goes on, so that one run shows every problem.
function check(cond, what, detail) {
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
function checkEqual(got, want, what) {
	return check(isDeepStrictEqual(got, want), what, { got, want });
}
function summary() {
	if (failures.length > 0) {
		console.log(`\n${failures.length} of ${checks} checks failed (SDK ${sdkLabel}, ${base}):`);
		for (const f of failures) console.log(`  - ${f}`);
	}
}

// --- the wire, as fetch sees it -------------------------------------------------
// Both SDKs call the global fetch when none is configured; recording it does
// not change how they are set up, and shows the exchanges of a failed step.

const wire = [];
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
// A2A JSON-RPC requests recorded so far (the card fetch excluded).
const rpcCalls = () => wire.filter((r) => r.request.method === 'POST' && r.request.body?.jsonrpc === '2.0');

// step runs one part of the script: an exception fails it, and a failed step
// prints its HTTP exchanges.
async function step(name, fn) {
	const from = wire.length;
	const before = failures.length;
	let out;
	try {
		out = await fn();
	} catch (err) {
		check(false, `${name}: ${err?.message ?? err}`, err?.cause ? { cause: err.cause } : undefined);
	}
	if (failures.length > before) {
		const recs = wire.slice(from);
		await Promise.allSettled(recs.map((r) => r.done));
		console.log(`     --- ${name}: ${recs.length} HTTP exchange(s) ---`);
		for (const r of recs) {
			const { done, ...rest } = r;
			void done;
			console.log(JSON.stringify(rest, null, 2).replace(/^/gm, '     '));
		}
	}
	return out;
}

// --- the two SDKs behind one shape -----------------------------------------------
// Each adapter uses its SDK's own client calls and types, and turns what they
// return into one plain shape so that both run the same checks:
//   task:    {kind: 'task', id, contextId, state, message, artifacts}
//   status:  {kind: 'status', taskId, contextId, state, message, final}
//   artifact:{kind: 'artifact', taskId, contextId, artifact, lastChunk}
//   message: {kind: 'message', messageId, role, parts}
// where state is the 0.3 spelling ('completed'), a part is {kind: 'text', text}
// or {kind: 'data', data}, an artifact is {artifactId, name, parts}.

function toolMessage(tool, args) {
	return { tool, arguments: args };
}

async function sdk10() {
	const { ClientFactory } = await import('a2a-js-10/client');
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
	const request = (tool, args) => ({
		tenant: '',
		message: {
			messageId: randomUUID(), contextId: '', taskId: '', role: Role.ROLE_USER,
			parts: [{ content: { $case: 'data', value: toolMessage(tool, args) }, metadata: undefined, filename: '', mediaType: 'application/json' }],
			metadata: undefined, extensions: [], referenceTaskIds: [],
		},
		configuration: undefined,
		metadata: undefined,
	});

	// The default factory: JSON-RPC and HTTP+JSON transports, no legacyCompat.
	const factory = new ClientFactory();
	const client = await factory.createFromUrl(base);
	const card = await client.getAgentCard();
	return {
		label: `@a2a-js/sdk ${pkg} (A2A 1.0, no legacyCompat)`,
		client,
		card,
		connection: { protocolVersion: client.protocolVersion, protocolName: client.transport.protocolName, endpoint: client.transport.endpoint ?? client.transport.base?.endpoint },
		wantConnection: { protocolVersion: '1.0', protocolName: 'JSONRPC', endpoint: `${base}/a2a` },
		checkCard(c) {
			const iface = (c.supportedInterfaces ?? []).find((i) => i.protocolBinding === 'JSONRPC' && i.protocolVersion === '1.0');
			check(iface?.url === `${base}/a2a`, `card: supportedInterfaces has JSONRPC 1.0 at ${base}/a2a`, c.supportedInterfaces);
			check(c.capabilities?.streaming === true, 'card: capabilities.streaming', c.capabilities);
		},
		wantMethods: ['SendMessage', 'SendStreamingMessage', 'GetTask'],
		wantVersionHeader: '1.0',
		send: async (tool, args) => result(await client.sendMessage(request(tool, args))),
		stream: async function* (tool, args) {
			for await (const ev of client.sendMessageStream(request(tool, args))) yield [event(ev), ev];
		},
		getTask: async (id) => task(await client.getTask({ tenant: '', id, historyLength: undefined })),
	};
}

async function sdk03() {
	const { ClientFactory, JsonRpcTransport } = await import('a2a-js-03/client');
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
	const request = (tool, args) => ({
		message: {
			kind: 'message', messageId: randomUUID(), role: 'user',
			parts: [{ kind: 'data', data: toolMessage(tool, args) }],
		},
	});

	const factory = new ClientFactory();
	const client = await factory.createFromUrl(base);
	const card = await client.getAgentCard();
	return {
		label: `@a2a-js/sdk ${pkg} (A2A 0.3)`,
		client,
		card,
		// 0.3.14's transports do not name their protocol; its factory does.
		connection: {
			protocolVersion: card.protocolVersion,
			protocolName: client.transport instanceof JsonRpcTransport ? 'JSONRPC' : client.transport?.constructor?.name,
			endpoint: client.transport.endpoint,
		},
		wantConnection: { protocolVersion: '0.3.0', protocolName: 'JSONRPC', endpoint: `${base}/a2a` },
		checkCard(c) {
			checkEqual([c.url, c.preferredTransport], [`${base}/a2a`, 'JSONRPC'], 'card: url and preferredTransport (JSONRPC)');
			check(c.capabilities?.streaming === true, 'card: capabilities.streaming', c.capabilities);
		},
		wantMethods: ['message/send', 'message/stream', 'tasks/get'],
		wantVersionHeader: null,
		send: async (tool, args) => {
			const r = await client.sendMessage(request(tool, args));
			return r.kind === 'task' ? task(r) : message(r);
		},
		stream: async function* (tool, args) {
			for await (const ev of client.sendMessageStream(request(tool, args))) yield [event(ev), ev];
		},
		getTask: async (id) => task(await client.getTask({ id })),
	};
}

// The installed version of an aliased package (its exports hide package.json).
async function sdkVersion(alias) {
	const { readFile } = await import('node:fs/promises');
	const pkg = new URL(`./node_modules/${alias}/package.json`, import.meta.url);
	return JSON.parse(await readFile(pkg, 'utf8')).version;
}

// --- helpers over the plain shape ---------------------------------------------------

const textOf = (m) => (m?.parts ?? []).filter((p) => p.kind === 'text').map((p) => p.text).join('\n');
const dataOf = (parts) => (parts ?? []).find((p) => p.kind === 'data')?.data;
// The one artifact named after the tool: its data and whether it has text too.
function toolArtifact(t, tool, what) {
	const arts = t?.artifacts ?? [];
	check(arts.length === 1 && arts[0].name === tool, `${what}: one artifact, named ${tool}`, arts);
	const a = arts.find((x) => x.name === tool) ?? arts[0];
	check(a?.parts?.some((p) => p.kind === 'text' && p.text !== ''), `${what}: the artifact has a text part`, a?.parts);
	return dataOf(a?.parts);
}
const ticketView = (t) => t && {
	id: t.id, customer: t.customer, category: t.category, priority: t.priority,
	summary: t.summary, refund_amount: t.refund_amount, status: t.status, version: t.version,
};

// --- the run -------------------------------------------------------------------------

let sdkLabel = `@a2a-js/sdk for A2A ${version}`;
const sdk = await step(`${sdkLabel}: resolve the card from ${base} and create a client`,
	() => (version === '1.0' ? sdk10() : sdk03()));
if (!sdk) fail('cannot go on without a client');
sdkLabel = sdk.label;
console.log(`# ${sdk.label} against ${base}`);

// A ticket of its own per run, so that runs (and the two SDKs) do not meet.
const ticketId = `T-A2AJS-${version.replace('.', '')}-${Date.now().toString(36)}-${process.pid}`;
const ticket = {
	ticket_id: ticketId, customer: `ACME-${version}`, category: 'billing', priority: 'high',
	summary: `charged twice (A2A JS SDK ${version} e2e)`, refund_amount: 123.5, status: 'new',
};
const wantTicket = {
	id: ticketId, customer: ticket.customer, category: 'billing', priority: 'high',
	summary: ticket.summary, refund_amount: 123.5, status: 'new', version: 1,
};

try {
	await step('card and transport', () => {
		checkEqual(sdk.connection, sdk.wantConnection,
			`the client factory picked ${sdk.wantConnection.protocolName} ${sdk.wantConnection.protocolVersion} at ${sdk.wantConnection.endpoint}`);
		check(sdk.card?.name === 'parley', `card: name parley (${sdk.card?.name})`, sdk.card?.name);
		const skill = (sdk.card?.skills ?? []).find((s) => s.id === 'workspace');
		check(skill !== undefined && /save_ticket/.test(skill.description) && /get_ticket/.test(skill.description),
			'card: the workspace skill lists save_ticket and get_ticket', sdk.card?.skills);
		sdk.checkCard(sdk.card);
	});

	// --- save_ticket (blocking sendMessage) ------------------------------------------
	const saved = await step('sendMessage save_ticket', async () => {
		const t = await sdk.send('save_ticket', ticket);
		check(t?.kind === 'task', 'sendMessage save_ticket returns a task', t);
		checkEqual(t?.state, 'completed', 'sendMessage save_ticket: task completed');
		const data = toolArtifact(t, 'save_ticket', 'sendMessage save_ticket');
		checkEqual(data?.created, true, 'sendMessage save_ticket: artifact data has created: true');
		checkEqual(ticketView(data?.ticket), wantTicket, `sendMessage save_ticket: artifact data holds ticket ${ticketId}`);
		return t;
	});

	// --- get_ticket (blocking sendMessage) ---------------------------------------------
	await step('sendMessage get_ticket', async () => {
		const t = await sdk.send('get_ticket', { ticket_id: ticketId });
		check(t?.kind === 'task', 'sendMessage get_ticket returns a task', t);
		checkEqual(t?.state, 'completed', 'sendMessage get_ticket: task completed');
		check(t?.id !== saved?.id, 'sendMessage get_ticket: a new task id', [t?.id, saved?.id]);
		const data = toolArtifact(t, 'get_ticket', 'sendMessage get_ticket');
		checkEqual(ticketView(data), wantTicket, `sendMessage get_ticket: artifact data is ticket ${ticketId}`);
	});

	// --- get_ticket (sendMessageStream) ------------------------------------------------
	await step('sendMessageStream get_ticket', async () => {
		const events = [];
		for await (const [ev, raw] of sdk.stream('get_ticket', { ticket_id: ticketId })) events.push({ ev, raw });
		const evs = events.map((e) => e.ev);
		const summaryLine = evs.map((e) => (e.kind === 'artifact' ? `artifact(${e.artifact?.name})` : e.state ? `${e.kind}(${e.state}${e.final ? ', final' : ''})` : e.kind)).join(' → ');
		console.log(`     stream: ${summaryLine}`);
		const shape = evs.map((e) => (e.kind === 'artifact' ? 'artifact' : `${e.kind}:${e.state}`));
		// The task first (submitted), then working, the artifact, completed.
		checkEqual(shape, ['task:submitted', 'status:working', 'artifact', 'status:completed'],
			'sendMessageStream get_ticket: events in order task(submitted) → status(working) → artifact → status(completed)');
		const first = evs[0];
		const ids = evs.map((e) => (e.kind === 'task' ? [e.id, e.contextId] : [e.taskId, e.contextId]));
		check(typeof first?.id === 'string' && first.id !== '' && ids.every(([id, ctx]) => id === first.id && ctx === first.contextId),
			'sendMessageStream get_ticket: every event carries the task id and context id', ids);
		const last = evs.at(-1);
		if (version === '0.3') {
			check(last?.final === true, 'sendMessageStream get_ticket: the completed status event is final', last);
			check(evs.slice(0, -1).every((e) => e.final !== true), 'sendMessageStream get_ticket: no earlier event is final', evs);
		} else {
			check(last?.kind === 'status' && last.state === 'completed',
				'sendMessageStream get_ticket: the stream ends after the terminal status (A2A 1.0 has no final flag)', last);
		}
		const art = evs.find((e) => e.kind === 'artifact');
		check(art?.artifact?.name === 'get_ticket' && art?.lastChunk === true, 'sendMessageStream get_ticket: artifact get_ticket, last chunk', art);
		checkEqual(ticketView(dataOf(art?.artifact?.parts)), wantTicket, `sendMessageStream get_ticket: artifact data is ticket ${ticketId}`);
	});

	// --- getTask on the first task -----------------------------------------------------
	await step('getTask', async () => {
		if (!saved?.id) {
			check(false, 'getTask: no task id from sendMessage save_ticket');
			return;
		}
		const t = await sdk.getTask(saved.id);
		checkEqual([t?.kind, t?.id, t?.contextId], ['task', saved.id, saved.contextId], `getTask ${saved.id}: the save_ticket task`);
		checkEqual(t?.state, 'completed', 'getTask: task completed');
		const data = toolArtifact(t, 'save_ticket', 'getTask');
		checkEqual([data?.created, ticketView(data?.ticket)], [true, wantTicket], 'getTask: artifact data holds the created ticket');
	});

	// --- an unknown tool ------------------------------------------------------------------
	await step('sendMessage unknown tool', async () => {
		const t = await sdk.send('no_such_tool', { x: 1 });
		check(t?.kind === 'task' && ['rejected', 'failed'].includes(t?.state),
			`unknown tool: task rejected or failed (${t?.state})`, t);
		checkEqual(t?.state, 'rejected', 'unknown tool: task rejected');
		const text = textOf(t?.message);
		check(text.includes('no_such_tool') && text.includes('save_ticket') && text.includes('get_ticket'),
			'unknown tool: the status message names the tool and lists the available tools', text);
		checkEqual(t?.artifacts ?? [], [], 'unknown tool: no artifact');
	});

	// --- get_ticket of a ticket that does not exist ---------------------------------------
	await step('sendMessage get_ticket (unknown ticket)', async () => {
		const missing = `${ticketId}-missing`;
		const t = await sdk.send('get_ticket', { ticket_id: missing });
		checkEqual([t?.kind, t?.state], ['task', 'failed'], 'get_ticket of an unknown ticket: task failed');
		const text = textOf(t?.message);
		check(/not found/i.test(text) && text.includes(missing), 'get_ticket of an unknown ticket: the status message says not found', text);
		checkEqual(t?.artifacts ?? [], [], 'get_ticket of an unknown ticket: no artifact');
	});

	// --- what went over the wire ---------------------------------------------------------
	await step('wire', async () => {
		const calls = rpcCalls();
		await Promise.allSettled(calls.map((r) => r.done));
		const methods = [...new Set(calls.map((r) => r.request.body.method))].sort();
		checkEqual(methods, [...sdk.wantMethods].sort(), `wire: JSON-RPC methods ${sdk.wantMethods.join(', ')}`);
		const versions = [...new Set(calls.map((r) => r.request.headers['a2a-version'] ?? null))];
		checkEqual(versions, [sdk.wantVersionHeader], `wire: A2A-Version header ${sdk.wantVersionHeader ?? 'absent'} on every call`);
		check(calls.every((r) => r.request.url === `${base}/a2a`), `wire: every call went to ${base}/a2a`, calls.map((r) => r.request.url));
		const errors = calls.filter((r) => r.response?.status !== 200 || r.response?.body?.error !== undefined);
		check(errors.length === 0, 'wire: no HTTP or JSON-RPC errors', errors);
	});
} catch (err) {
	fail(`unexpected error: ${err?.message ?? err}`, err);
}

if (failures.length > 0) {
	summary();
	process.exit(1);
}
console.log(`PASS ${checks} checks: ${sdk.label} against ${base}`);
process.exit(0);
