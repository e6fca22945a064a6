#!/usr/bin/env node
// Drives a running Parley gateway's own A2A endpoint (the shared-workspace
// skill) with the JavaScript A2A SDK, as a user of that SDK would: its
// ClientFactory resolves the agent card from the base URL and picks the
// transport, then sendMessage, sendMessageStream, getTask, listTasks (1.0)
// and a subscription to a task that has ended.
//
//   node a2a-client.mjs <gateway-base-url> <1.0|0.3> [JSONRPC|HTTP+JSON]
//
//   1.0: @a2a-js/sdk 1.3.0 (npm alias a2a-js-10), the default ClientFactory,
//        *without* legacyCompat: it must pick the card's 1.0 interface of
//        the transport and speak A2A 1.0 on the wire.
//   0.3: @a2a-js/sdk 0.3.14 (npm alias a2a-js-03), the default ClientFactory:
//        A2A 0.3 (the card's url / preferredTransport, or its
//        additionalInterfaces entry of the transport).
//   The transport (default JSONRPC) is the one the factory is told to
//   prefer: JSONRPC at <base>/a2a, HTTP+JSON (REST) at <base>/a2a/rest
//   (A2A 0.3's REST client puts its paths under /v1 there).
//
// The base URL may also come from PARLEY_BASE_URL. Prints one line per check
// ("ok   …" or "FAIL …"); after a failed step it prints that step's HTTP
// exchanges (requests and responses as seen by fetch) to show what went over
// the wire. Ends with "PASS <n> checks" or a list of the failures, and exits 1
// on any failure (2 on bad usage).

import {
	check, checkEqual, deadline, errorNames, fail, finish, openSDK, setLabel, step, textOf, dataOf, streamShape, streamLine, wire,
} from './a2a-sdk.mjs';

const usage = 'usage: node a2a-client.mjs <gateway-base-url> <1.0|0.3> [JSONRPC|HTTP+JSON]  (or set PARLEY_BASE_URL)';
const base = (process.argv[2] ?? process.env.PARLEY_BASE_URL ?? '').replace(/\/+$/, '');
const version = process.argv[3];
const transport = process.argv[4] ?? 'JSONRPC';
if (!base || !['1.0', '0.3'].includes(version) || !['JSONRPC', 'HTTP+JSON'].includes(transport)) {
	console.error(usage);
	process.exit(2);
}

// The whole run must finish in this time; a hang is a failure too.
deadline(90_000);

// --- what each SDK should see --------------------------------------------------------
// The checks, wire, step and the SDK adapters (one plain shape for both SDKs)
// are in a2a-sdk.mjs; what differs here is what the gateway's own card and
// endpoint look like to each SDK.

const rest = transport === 'HTTP+JSON';
const endpoint = rest ? `${base}/a2a/rest` : `${base}/a2a`;
const expect = {
	'1.0': {
		wantConnection: { protocolVersion: '1.0', protocolName: transport, endpoint },
		checkCard(c) {
			for (const [binding, url] of [['JSONRPC', `${base}/a2a`], ['HTTP+JSON', `${base}/a2a/rest`]]) {
				const iface = (c.supportedInterfaces ?? []).find((i) => i.protocolBinding === binding && i.protocolVersion === '1.0');
				check(iface?.url === url, `card: supportedInterfaces has ${binding} 1.0 at ${url}`, c.supportedInterfaces);
			}
			check(c.capabilities?.streaming === true, 'card: capabilities.streaming', c.capabilities);
		},
		// The operations on the wire: JSON-RPC methods, or REST "VERB path"
		// below the endpoint, task ids as {id}.
		wantOps: rest
			? ['POST /message:send', 'POST /message:stream', 'GET /tasks/{id}', 'GET /tasks', 'POST /tasks/{id}:subscribe']
			: ['SendMessage', 'SendStreamingMessage', 'GetTask', 'ListTasks', 'SubscribeToTask'],
		wantVersionHeader: '1.0',
	},
	'0.3': {
		// The card says protocolVersion "0.3" (a2a-go's a2av0.Version), as
		// 0.3.14 reports it.
		wantConnection: { protocolVersion: '0.3', protocolName: transport, endpoint },
		checkCard(c) {
			checkEqual([c.url, c.preferredTransport], [`${base}/a2a`, 'JSONRPC'], 'card: url and preferredTransport (JSONRPC)');
			const restIface = (c.additionalInterfaces ?? []).find((i) => i.transport === 'HTTP+JSON');
			checkEqual(restIface?.url, `${base}/a2a/rest`, 'card: additionalInterfaces has HTTP+JSON at /a2a/rest', c.additionalInterfaces);
			check(c.capabilities?.streaming === true, 'card: capabilities.streaming', c.capabilities);
		},
		wantOps: rest
			? ['POST /v1/message:send', 'POST /v1/message:stream', 'GET /v1/tasks/{id}', 'POST /v1/tasks/{id}:subscribe']
			: ['message/send', 'message/stream', 'tasks/get', 'tasks/resubscribe'],
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
const sdk = await step(`${sdkLabel}: resolve the card from ${base} and create a client (${transport})`, () => openSDK(version, base, { transport }));
if (!sdk) fail('cannot go on without a client');
setLabel(`SDK ${sdk.label}, ${base}`);
console.log(`# ${sdk.label} against ${base}, ${transport}`);

// A ticket of its own per run, so that runs (and the two SDKs) do not meet.
const ticketId = `T-A2AJS-${version.replace('.', '')}-${rest ? 'REST' : 'RPC'}-${Date.now().toString(36)}-${process.pid}`;
// The ids of the tasks this run starts, for listTasks.
const started = [];
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
		started.push(t?.id);
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
		started.push(t?.id);
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
		// The task first, then working, the artifact, completed. Tasks run
		// through the gateway's work queue, and a stream joins the task as
		// it is stored: when the replica running it was quicker, the stream
		// opens with the task as it then stood (A2A lets a stream open with
		// the task in any state), and the events after it finish the task.
		const rest = ['status:working', 'artifact', 'status:completed'];
		const tail = shape.slice(1);
		check(shape[0]?.startsWith('task:') && tail.length >= 1 && JSON.stringify(tail) === JSON.stringify(rest.slice(rest.length - tail.length)),
			'sendMessageStream get_ticket: events in order task → status(working) → artifact → status(completed), from where the stream joined', shape);
		const first = evs[0];
		started.push(first?.id);
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
		// The artifact as an event, or in the task the stream opened with.
		const art = evs.find((e) => e.kind === 'artifact');
		const artifact = art?.artifact ?? first?.artifacts?.find((a) => a.name === 'get_ticket');
		check(artifact?.name === 'get_ticket' && (art === undefined || art.lastChunk === true), 'sendMessageStream get_ticket: artifact get_ticket, last chunk', art ?? first);
		checkEqual(ticketView(dataOf(artifact?.parts)), wantTicket, `sendMessageStream get_ticket: artifact data is ticket ${ticketId}`);
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
		started.push(t?.id);
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
		started.push(t?.id);
		checkEqual([t?.kind, t?.state], ['task', 'failed'], 'get_ticket of an unknown ticket: task failed');
		const text = textOf(t?.message);
		check(/not found/i.test(text) && text.includes(missing), 'get_ticket of an unknown ticket: the status message says not found', text);
		checkEqual(t?.artifacts ?? [], [], 'get_ticket of an unknown ticket: no artifact');
	});

	// --- listTasks (A2A 1.0; 0.3 has no tasks/list) ---------------------------------------
	if (version === '1.0') {
		await step('listTasks', async () => {
			const tasks = await sdk.listTasks();
			const byId = new Map(tasks.map((t) => [t.id, t]));
			const missing = started.filter((id) => !byId.has(id));
			checkEqual(missing, [], `listTasks: lists the ${started.length} tasks this run started`);
			const first = byId.get(saved?.id);
			checkEqual([first?.contextId, first?.state], [saved?.contextId, 'completed'], 'listTasks: the save_ticket task, completed');
			checkEqual(ticketView(dataOf(first?.artifacts?.[0]?.parts)?.ticket), wantTicket, 'listTasks: the save_ticket task holds its artifact');
		});
	}

	// --- a subscription to a task that has ended ------------------------------------------
	// A2A 1.0 §3.1.6: subscribing to a task in a terminal state is answered
	// with UnsupportedOperationError (0.3: the same error, JSON-RPC code
	// -32004).
	await step('resubscribe to an ended task', async () => {
		const from = wire.length;
		const events = [];
		let err;
		try {
			for await (const [ev] of sdk.resubscribe(saved?.id)) events.push(ev);
		} catch (e) {
			err = e;
		}
		checkEqual(events, [], 'resubscribe to a completed task: no events');
		const names = errorNames(err);
		if (version === '0.3' && rest) {
			// 0.3.14's REST client maps only an error body with a numeric
			// top-level "code" (the JSON-RPC code) to its error classes; the
			// gateway's 0.3 REST errors (a2a-go's a2av0) have the
			// google.rpc.Status form, {"error": {"code": <HTTP status>, ...}},
			// so 0.3.14 raises a plain Error for every REST error. It must
			// still raise one, from an HTTP error answer, saying why.
			check(err !== undefined && !/Failed to parse/.test(err?.message ?? ''),
				`resubscribe to a completed task: the SDK raises an error answer, not an event it cannot parse (raised: ${names.join(' ← ') || 'nothing'}: ${err?.message})`, err);
		} else {
			check(names.some((n) => /UnsupportedOperation/.test(n)),
				`resubscribe to a completed task: the SDK raises UnsupportedOperationError (raised: ${names.join(' ← ') || 'nothing'})`, err);
		}
		check(/ended/.test(err?.message ?? ''), 'resubscribe to a completed task: the error says the task has ended', err?.message);
		const recs = wire.slice(from);
		await Promise.allSettled(recs.map((r) => r.done));
		const answer = recs.at(-1)?.response;
		// The error may come as the only event of a stream.
		const body = Array.isArray(answer?.body) ? answer.body[0] : answer?.body;
		if (rest) {
			// The HTTP+JSON binding says an error with the HTTP status and a
			// google.rpc.Status body whose ErrorInfo names the A2A error.
			const reasons = (body?.error?.details ?? []).map((d) => d.reason);
			checkEqual(reasons, ['UNSUPPORTED_OPERATION'], 'resubscribe to a completed task: the error\'s ErrorInfo reason is UNSUPPORTED_OPERATION');
			check(answer?.status >= 400 && answer?.status < 500,
				`resubscribe to a completed task: an HTTP client error status, not a stream (got HTTP ${answer?.status} ${answer?.headers?.['content-type']})`, answer);
		} else {
			checkEqual(body?.error?.code, -32004, 'resubscribe to a completed task: JSON-RPC error -32004 (UnsupportedOperationError)');
		}
	});

	// --- what went over the wire ---------------------------------------------------------
	await step('wire', async () => {
		await Promise.allSettled(wire.map((r) => r.done));
		// The A2A calls: every exchange but the card's.
		const calls = wire.filter((r) => !r.request.url.includes('/.well-known/'));
		const opOf = (r) => {
			if (!rest) return r.request.body?.method;
			const path = r.request.url.slice(endpoint.length).split('?')[0];
			return `${r.request.method} ${started.reduce((p, id) => (id ? p.replaceAll(id, '{id}') : p), path)}`;
		};
		const ops = [...new Set(calls.map(opOf))].sort();
		checkEqual(ops, [...expect.wantOps].sort(), `wire: ${rest ? 'REST operations' : 'JSON-RPC methods'} ${expect.wantOps.join(', ')}`);
		const versions = [...new Set(calls.map((r) => r.request.headers['a2a-version'] ?? null))];
		checkEqual(versions, [expect.wantVersionHeader], `wire: A2A-Version header ${expect.wantVersionHeader ?? 'absent'} on every call`);
		check(calls.every((r) => (rest ? r.request.url.startsWith(`${endpoint}/`) : r.request.url === endpoint)),
			`wire: every call went to ${endpoint}`, calls.map((r) => r.request.url));
		// The one error is the subscription to the ended task.
		const isError = (r) => r.response?.status !== 200 || r.response?.body?.error !== undefined;
		const errors = calls.filter((r) => isError(r) && !/subscribe/i.test(opOf(r)));
		check(errors.length === 0, 'wire: no HTTP or JSON-RPC errors but the ended task\'s subscription', errors);
	});
} catch (err) {
	fail(`unexpected error: ${err?.message ?? err}`, err);
}

finish(`${sdk.label} against ${base}, ${transport}`);
