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

import {
	check, checkEqual, deadline, fail, finish, openSDK, rpcCalls, setLabel, step, textOf, dataOf, streamShape, streamLine,
} from './a2a-sdk.mjs';

const usage = 'usage: node a2a-client.mjs <gateway-base-url> <1.0|0.3>  (or set PARLEY_BASE_URL)';
const base = (process.argv[2] ?? process.env.PARLEY_BASE_URL ?? '').replace(/\/+$/, '');
const version = process.argv[3];
if (!base || !['1.0', '0.3'].includes(version)) {
	console.error(usage);
	process.exit(2);
}

// The whole run must finish in this time; a hang is a failure too.
deadline(90_000);

// --- what each SDK should see --------------------------------------------------------
// The checks, wire, step and the SDK adapters (one plain shape for both SDKs)
// are in a2a-sdk.mjs; what differs here is what the gateway's own card and
// endpoint look like to each SDK.

const expect = {
	'1.0': {
		wantConnection: { protocolVersion: '1.0', protocolName: 'JSONRPC', endpoint: `${base}/a2a` },
		checkCard(c) {
			const iface = (c.supportedInterfaces ?? []).find((i) => i.protocolBinding === 'JSONRPC' && i.protocolVersion === '1.0');
			check(iface?.url === `${base}/a2a`, `card: supportedInterfaces has JSONRPC 1.0 at ${base}/a2a`, c.supportedInterfaces);
			check(c.capabilities?.streaming === true, 'card: capabilities.streaming', c.capabilities);
		},
		wantMethods: ['SendMessage', 'SendStreamingMessage', 'GetTask'],
		wantVersionHeader: '1.0',
	},
	'0.3': {
		wantConnection: { protocolVersion: '0.3.0', protocolName: 'JSONRPC', endpoint: `${base}/a2a` },
		checkCard(c) {
			checkEqual([c.url, c.preferredTransport], [`${base}/a2a`, 'JSONRPC'], 'card: url and preferredTransport (JSONRPC)');
			check(c.capabilities?.streaming === true, 'card: capabilities.streaming', c.capabilities);
		},
		wantMethods: ['message/send', 'message/stream', 'tasks/get'],
		wantVersionHeader: null,
	},
}[version];

// A tool call is a message with one data part {tool, arguments}.
const toolCall = (tool, args) => [{ kind: 'data', data: { tool, arguments: args } }];

// --- helpers over the plain shape ---------------------------------------------------

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

const sdkLabel = `@a2a-js/sdk for A2A ${version}`;
setLabel(`SDK ${sdkLabel}, ${base}`);
const sdk = await step(`${sdkLabel}: resolve the card from ${base} and create a client`, () => openSDK(version, base));
if (!sdk) fail('cannot go on without a client');
setLabel(`SDK ${sdk.label}, ${base}`);
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
		checkEqual(sdk.connection, expect.wantConnection,
			`the client factory picked ${expect.wantConnection.protocolName} ${expect.wantConnection.protocolVersion} at ${expect.wantConnection.endpoint}`);
		check(sdk.card?.name === 'parley', `card: name parley (${sdk.card?.name})`, sdk.card?.name);
		const skill = (sdk.card?.skills ?? []).find((s) => s.id === 'workspace');
		check(skill !== undefined && /save_ticket/.test(skill.description) && /get_ticket/.test(skill.description),
			'card: the workspace skill lists save_ticket and get_ticket', sdk.card?.skills);
		expect.checkCard(sdk.card);
	});

	// --- save_ticket (blocking sendMessage) ------------------------------------------
	const saved = await step('sendMessage save_ticket', async () => {
		const t = await sdk.send(toolCall('save_ticket', ticket));
		check(t?.kind === 'task', 'sendMessage save_ticket returns a task', t);
		checkEqual(t?.state, 'completed', 'sendMessage save_ticket: task completed');
		const data = toolArtifact(t, 'save_ticket', 'sendMessage save_ticket');
		checkEqual(data?.created, true, 'sendMessage save_ticket: artifact data has created: true');
		checkEqual(ticketView(data?.ticket), wantTicket, `sendMessage save_ticket: artifact data holds ticket ${ticketId}`);
		return t;
	});

	// --- get_ticket (blocking sendMessage) ---------------------------------------------
	await step('sendMessage get_ticket', async () => {
		const t = await sdk.send(toolCall('get_ticket', { ticket_id: ticketId }));
		check(t?.kind === 'task', 'sendMessage get_ticket returns a task', t);
		checkEqual(t?.state, 'completed', 'sendMessage get_ticket: task completed');
		check(t?.id !== saved?.id, 'sendMessage get_ticket: a new task id', [t?.id, saved?.id]);
		const data = toolArtifact(t, 'get_ticket', 'sendMessage get_ticket');
		checkEqual(ticketView(data), wantTicket, `sendMessage get_ticket: artifact data is ticket ${ticketId}`);
	});

	// --- get_ticket (sendMessageStream) ------------------------------------------------
	await step('sendMessageStream get_ticket', async () => {
		const events = [];
		for await (const [ev, raw] of sdk.stream(toolCall('get_ticket', { ticket_id: ticketId }))) events.push({ ev, raw });
		const evs = events.map((e) => e.ev);
		console.log(`     stream: ${streamLine(evs)}`);
		const shape = streamShape(evs);
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
		const t = await sdk.send(toolCall('no_such_tool', { x: 1 }));
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
		const t = await sdk.send(toolCall('get_ticket', { ticket_id: missing }));
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
		checkEqual(methods, [...expect.wantMethods].sort(), `wire: JSON-RPC methods ${expect.wantMethods.join(', ')}`);
		const versions = [...new Set(calls.map((r) => r.request.headers['a2a-version'] ?? null))];
		checkEqual(versions, [expect.wantVersionHeader], `wire: A2A-Version header ${expect.wantVersionHeader ?? 'absent'} on every call`);
		check(calls.every((r) => r.request.url === `${base}/a2a`), `wire: every call went to ${base}/a2a`, calls.map((r) => r.request.url));
		const errors = calls.filter((r) => r.response?.status !== 200 || r.response?.body?.error !== undefined);
		check(errors.length === 0, 'wire: no HTTP or JSON-RPC errors', errors);
	});
} catch (err) {
	fail(`unexpected error: ${err?.message ?? err}`, err);
}

finish(`${sdk.label} against ${base}`);
