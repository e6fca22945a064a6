#!/usr/bin/env node
// Drives an A2A agent registered with a running Parley gateway *through the
// gateway's relay* (/a2a/agents/<name>) with the JavaScript A2A SDK, as a
// user of that SDK would: its ClientFactory resolves the relay's rewritten
// agent card (/a2a/agents/<name>/.well-known/agent-card.json) and picks the
// transport from it, then sendMessage, sendMessageStream and getTask, and a
// message to an agent name that is not registered.
//
//   node a2a-relay-client.mjs <gateway-base-url> <agent-name> <1.0|0.3> [<agent-url> [<unregistered-name>]]
//
//   1.0: @a2a-js/sdk 1.3.0 (npm alias a2a-js-10), the default ClientFactory,
//        *without* legacyCompat: it must pick the rewritten card's JSON-RPC
//        1.0 interface (the relay) and speak A2A 1.0 on the wire.
//   0.3: @a2a-js/sdk 0.3.14 (npm alias a2a-js-03), the default ClientFactory:
//        A2A 0.3 (the rewritten card's url / preferredTransport).
//
// The agent is expected to answer every message (e2e/a2ajs_relay_test.go's
// relayEchoExecutor on a2a-go v0.3, relayEcho1 on a2a-go v2) with: the submitted task, a working status update with a
// text, an artifact "echo" holding a data part
//   {"agent": <name>, "texts": [<text parts>], "data": [<data parts>],
//    "parley": <the message's metadata.parley>}
// and a text part, then the completed status.
//
// <agent-url>, the agent's own URL, is only used to check that the rewritten
// card does not send callers there. <unregistered-name> (default
// no-such-agent) must not be registered. Output and exit status as for
// a2a-client.mjs: one line per check ("ok   …" or "FAIL …"), the HTTP
// exchanges of a failed step, "PASS <n> checks" or a list of the failures;
// exit 1 on any failure, 2 on bad usage.

import {
	check, checkEqual, deadline, fail, finish, openSDK, rpcCalls, setLabel, step, wire,
	textOf, dataOf, streamShape, streamLine, printExchanges,
} from './a2a-sdk.mjs';

const usage = 'usage: node a2a-relay-client.mjs <gateway-base-url> <agent-name> <1.0|0.3> [<agent-url> [<unregistered-name>]]';
const [rawBase, agent, version, agentURL, missingArg] = process.argv.slice(2);
const base = (rawBase ?? '').replace(/\/+$/, '');
const missing = missingArg || 'no-such-agent';
if (!base || !agent || !['1.0', '0.3'].includes(version)) {
	console.error(usage);
	process.exit(2);
}

deadline(90_000);

// The relay's JSON-RPC endpoint for the agent, which is also the base URL of
// its rewritten card; and the same for a name that is not registered.
const relay = `${base}/a2a/agents/${encodeURIComponent(agent)}`;
const missingRelay = `${base}/a2a/agents/${encodeURIComponent(missing)}`;
const cardURL = `${relay}/.well-known/agent-card.json`;
// The relay's REST face for the agent (A2A 1.0 at it, 0.3 under its /v1).
const rest = `${relay}/rest`;

// --- what each SDK should see --------------------------------------------------------

const expect = {
	'1.0': {
		wantConnection: { protocolVersion: '1.0', protocolName: 'JSONRPC', endpoint: relay },
		checkCard(c) {
			const ifaces = c.supportedInterfaces ?? [];
			const has = (v) => ifaces.some((i) => i.protocolBinding === 'JSONRPC' && i.protocolVersion === v && i.url === relay);
			check(has('1.0') && has('0.3'), `card: supportedInterfaces has JSONRPC 1.0 and 0.3 at the relay ${relay}`, ifaces);
			const hasREST = (v) => ifaces.some((i) => i.protocolBinding === 'HTTP+JSON' && i.protocolVersion === v && i.url === rest);
			check(hasREST('1.0') && hasREST('0.3'), `card: supportedInterfaces has HTTP+JSON 1.0 and 0.3 at the relay's ${rest}`, ifaces);
			check(ifaces.some((i) => i.protocolBinding === 'GRPC' && i.protocolVersion === '1.0' && i.tenant === agent),
				`card: supportedInterfaces has the gateway's gRPC port in 1.0 with tenant ${agent}`, ifaces);
			check(ifaces.length > 0 && ifaces.every((i) => i.url === relay || i.url === rest || (i.protocolBinding === 'GRPC' && i.tenant === agent)),
				'card: every interface is the relay (JSON-RPC at it, REST under it, gRPC with the agent as tenant)', ifaces);
		},
		wantMethods: ['SendMessage', 'SendStreamingMessage', 'GetTask'],
		wantVersionHeader: '1.0',
	},
	'0.3': {
		wantConnection: { protocolVersion: '0.3.0', protocolName: 'JSONRPC', endpoint: relay },
		checkCard(c) {
			checkEqual([c.url, c.preferredTransport, c.protocolVersion], [relay, 'JSONRPC', '0.3.0'],
				`card: url is the relay ${relay}, preferredTransport JSONRPC, protocolVersion 0.3.0`);
			check((c.additionalInterfaces ?? []).every((i) => i.url === relay || i.url === rest), 'card: no additional interface elsewhere than the relay', c.additionalInterfaces);
			check((c.additionalInterfaces ?? []).some((i) => i.url === rest && i.transport === 'HTTP+JSON'),
				`card: an additional interface HTTP+JSON at the relay's ${rest}`, c.additionalInterfaces);
		},
		wantMethods: ['message/send', 'message/stream', 'tasks/get'],
		wantVersionHeader: null,
	},
}[version];

// --- the echo --------------------------------------------------------------------------

// A message of a text part and a data part, unique to this run and purpose.
const runId = `relay-${version}-${Date.now().toString(36)}-${process.pid}`;
function input(purpose) {
	return {
		text: `hello ${agent}: ${purpose} from the A2A ${version} SDK (${runId})`,
		data: { run: runId, purpose, sdk: version, n: 42, ratio: 0.5, nested: { ok: true, list: [1, 'two', { three: 3 }] } },
	};
}
const parts = (i) => [{ kind: 'text', text: i.text }, { kind: 'data', data: i.data }];

// checkEcho checks an artifact list holds the one "echo" artifact, with a
// text part and a data part echoing in, and returns that artifact.
function checkEcho(artifacts, in_, what) {
	const arts = artifacts ?? [];
	check(arts.length === 1 && arts[0]?.name === 'echo', `${what}: one artifact, named echo`, arts);
	const a = arts.find((x) => x?.name === 'echo') ?? arts[0];
	check(a?.parts?.some((p) => p.kind === 'text' && p.text.includes(agent)), `${what}: the artifact has a text part from ${agent}`, a?.parts);
	const echo = dataOf(a?.parts);
	checkEqual([echo?.agent, echo?.texts, echo?.data], [agent, [in_.text], [in_.data]],
		`${what}: the artifact's data part echoes the text and data parts sent`);
	check(echo?.parley?.via === 'parley' && typeof echo?.parley?.caller === 'string' && echo.parley.caller !== '',
		`${what}: the agent saw the relay's metadata.parley (via parley, caller ${echo?.parley?.caller})`, echo?.parley);
	return a;
}

// rpcErrorOf is the JSON-RPC error in a recorded answer: a JSON body, or the
// first event of a stream carrying one.
const rpcErrorOf = (body) => (Array.isArray(body) ? body.find((ev) => ev?.error !== undefined) : body)?.error;

// --- the run -------------------------------------------------------------------------

setLabel(`SDK for A2A ${version}, ${relay}`);

// The SDKs resolve the card's URL as new URL('.well-known/agent-card.json',
// url): with <base>/a2a/agents/<name> as url that is
// <base>/a2a/agents/.well-known/agent-card.json, a sibling of the agent, so
// the relay URL is given as a directory, with a trailing slash.
console.log(`# createFromUrl(${relay}/): the card at ${new URL('.well-known/agent-card.json', `${relay}/`)}` +
	` (without the trailing slash the SDK would ask for ${new URL('.well-known/agent-card.json', relay)})`);
const cardFrom = wire.length;
const sdk = await step(`@a2a-js/sdk for A2A ${version}: resolve the relay's card from ${relay}/ and create a client`,
	() => openSDK(version, `${relay}/`));
if (!sdk) fail('cannot go on without a client');
setLabel(`SDK ${sdk.label}, ${relay}`);
console.log(`# ${sdk.label} through the relay ${relay}`);

let first;
try {
	await step('card and transport', () => {
		const fetched = wire.slice(cardFrom).filter((r) => r.request.method === 'GET');
		checkEqual(fetched.map((r) => [r.request.url, r.response?.status]), [[cardURL, 200]],
			`card: fetched the rewritten card from ${cardURL}`);
		checkEqual(sdk.connection, expect.wantConnection,
			`the client factory picked ${expect.wantConnection.protocolName} ${expect.wantConnection.protocolVersion} at the relay ${relay}`);
		check(sdk.card?.name === agent, `card: name ${agent} (${sdk.card?.name})`, sdk.card?.name);
		check((sdk.card?.skills ?? []).some((s) => s.id === 'echo'), "card: the agent's echo skill", sdk.card?.skills);
		check(sdk.card?.capabilities?.streaming === true, 'card: capabilities.streaming', sdk.card?.capabilities);
		expect.checkCard(sdk.card);
		if (agentURL) {
			const own = agentURL.replace(/\/+$/, '');
			check(!JSON.stringify(sdk.card).includes(own), `card: does not point at the agent's own URL ${own}`, sdk.card);
		}
	});

	// --- sendMessage: a text part and a data part, echoed back -------------------------
	const sent = input('sendMessage');
	first = await step('sendMessage', async () => {
		const t = await sdk.send(parts(sent));
		check(t?.kind === 'task', 'sendMessage returns a task', t);
		checkEqual(t?.state, 'completed', 'sendMessage: task completed');
		check(textOf(t?.message).includes(agent), `sendMessage: the completed status has ${agent}'s message`, t?.message);
		checkEcho(t?.artifacts, sent, 'sendMessage');
		return t;
	});

	// --- sendMessageStream: task → working → artifact → completed ----------------------
	const streamed = input('sendMessageStream');
	await step('sendMessageStream', async () => {
		const evs = [];
		for await (const [ev] of sdk.stream(parts(streamed))) evs.push(ev);
		console.log(`     stream: ${streamLine(evs)}`);
		checkEqual(streamShape(evs), ['task:submitted', 'status:working', 'artifact', 'status:completed'],
			'sendMessageStream: events in order task(submitted) → status(working) → artifact → status(completed)');
		const head = evs[0];
		const ids = evs.map((e) => (e.kind === 'task' ? [e.id, e.contextId] : [e.taskId, e.contextId]));
		check(typeof head?.id === 'string' && head.id !== '' && ids.every(([id, ctx]) => id === head.id && ctx === head.contextId),
			'sendMessageStream: every event carries the task id and context id', ids);
		check(head?.id !== first?.id, 'sendMessageStream: a new task id', [head?.id, first?.id]);
		const working = evs.find((e) => e.kind === 'status' && e.state === 'working');
		check(/working/.test(textOf(working?.message)), `sendMessageStream: the working update has a text (${textOf(working?.message)})`, working);
		const last = evs.at(-1);
		if (version === '0.3') {
			check(last?.final === true, 'sendMessageStream: the completed status event is final', last);
			check(evs.slice(0, -1).every((e) => e.final !== true), 'sendMessageStream: no earlier event is final', evs);
		} else {
			check(last?.kind === 'status' && last.state === 'completed',
				'sendMessageStream: the stream ends after the terminal status (A2A 1.0 has no final flag)', last);
		}
		const art = evs.find((e) => e.kind === 'artifact');
		check(art?.lastChunk === true, 'sendMessageStream: the artifact is its last chunk', art);
		checkEcho(art ? [art.artifact] : [], streamed, 'sendMessageStream');
	});

	// --- getTask of the first task -----------------------------------------------------
	await step('getTask', async () => {
		if (!first?.id) {
			check(false, 'getTask: no task id from sendMessage');
			return;
		}
		const t = await sdk.getTask(first.id);
		checkEqual([t?.kind, t?.id, t?.contextId], ['task', first.id, first.contextId], `getTask ${first.id}: the sendMessage task`);
		checkEqual(t?.state, 'completed', 'getTask: task completed');
		checkEcho(t?.artifacts, sent, 'getTask');
	});

	// --- an agent that is not registered -----------------------------------------------
	const missingFrom = wire.length;
	await step(`unregistered agent ${missing}`, async () => {
		const names = (s) => typeof s === 'string' && s.includes(missing) && /not registered/i.test(s);

		// Its card: the SDK cannot resolve it, and the gateway says why.
		const cardAt = wire.length;
		let resolveErr;
		try {
			await openSDK(version, `${missingRelay}/`);
		} catch (err) {
			resolveErr = err;
		}
		const cardRec = wire.slice(cardAt).find((r) => r.request.method === 'GET');
		await cardRec?.done;
		check(resolveErr !== undefined, `unregistered agent: the SDK cannot resolve ${missingRelay}/.well-known/agent-card.json (${resolveErr?.message})`);
		check(cardRec?.response?.status === 404 && names(cardRec?.response?.body?.error),
			`unregistered agent: its card is a 404 naming ${missing} (${cardRec?.response?.status} ${JSON.stringify(cardRec?.response?.body)})`, cardRec);

		// A message to it, from a client whose card points there.
		const other = await sdk.at(missingRelay);
		checkEqual(other.connection.endpoint, missingRelay, `unregistered agent: a client at ${missingRelay}`);
		for (const [how, call] of [
			['sendMessage', () => other.send(parts(input('unregistered')))],
			['sendMessageStream', async () => {
				for await (const [ev] of other.stream(parts(input('unregistered stream')))) {
					throw new Error(`got an event: ${JSON.stringify(ev)}`);
				}
			}],
		]) {
			const from = wire.length;
			let err;
			try {
				await call();
			} catch (e) {
				err = e;
			}
			const rec = rpcCalls(wire.slice(from))[0];
			await rec?.done;
			const rpcErr = rpcErrorOf(rec?.response?.body);
			check(names(err?.message), `unregistered agent: ${how} fails with an error naming ${missing} (${err?.name}: ${err?.message})`, err);
			check(rpcErr !== undefined && names(rpcErr.message) && JSON.stringify(rpcErr.data ?? null).includes(missing),
				`unregistered agent: ${how}'s JSON-RPC error (${rpcErr?.code}) names ${missing} in its message and data`, rec);
		}
	});

	// --- what went over the wire ---------------------------------------------------------
	await step('wire', async () => {
		const calls = rpcCalls(wire.slice(0, missingFrom));
		await Promise.allSettled(calls.map((r) => r.done));
		const methods = [...new Set(calls.map((r) => r.request.body.method))].sort();
		checkEqual(methods, [...expect.wantMethods].sort(), `wire: JSON-RPC methods ${expect.wantMethods.join(', ')}`);
		const versions = [...new Set(rpcCalls().map((r) => r.request.headers['a2a-version'] ?? null))];
		checkEqual(versions, [expect.wantVersionHeader], `wire: A2A-Version header ${expect.wantVersionHeader ?? 'absent'} on every call`);
		check(calls.every((r) => r.request.url === relay), `wire: every call to ${agent} went to the relay ${relay}`, calls.map((r) => r.request.url));
		const unregistered = rpcCalls(wire.slice(missingFrom));
		check(unregistered.length === 2 && unregistered.every((r) => r.request.url === missingRelay),
			`wire: the calls to ${missing} went to ${missingRelay}`, unregistered.map((r) => r.request.url));
		const errors = calls.filter((r) => r.response?.status !== 200 || rpcErrorOf(r.response?.body) !== undefined);
		check(errors.length === 0, `wire: no HTTP or JSON-RPC errors from ${agent}`, errors);
		if (errors.length > 0) await printExchanges('wire errors', errors);
	});

	// --- the relay's REST face: the same agent over HTTP+JSON --------------------------
	const restFrom = wire.length;
	const viaREST = await step(`HTTP+JSON: resolve the card from ${relay}/ preferring REST`,
		() => openSDK(version, `${relay}/`, { transport: 'HTTP+JSON' }));
	if (viaREST) {
		await step('HTTP+JSON through the relay', async () => {
			checkEqual([viaREST.connection.protocolName, viaREST.connection.endpoint], ['HTTP+JSON', rest],
				`HTTP+JSON: the client factory picked the relay's REST face ${rest}`);
			const sentREST = input('REST sendMessage');
			const t = await viaREST.send(parts(sentREST));
			checkEqual(t?.state, 'completed', 'HTTP+JSON sendMessage: task completed');
			checkEcho(t?.artifacts, sentREST, 'HTTP+JSON sendMessage');
			const evs = [];
			for await (const [ev] of viaREST.stream(parts(input('REST sendMessageStream')))) evs.push(ev);
			console.log(`     REST stream: ${streamLine(evs)}`);
			checkEqual(streamShape(evs), ['task:submitted', 'status:working', 'artifact', 'status:completed'],
				'HTTP+JSON sendMessageStream: events in order task(submitted) → status(working) → artifact → status(completed)');
			const got = await viaREST.getTask(t?.id);
			checkEqual([got?.id, got?.state], [t?.id, 'completed'], `HTTP+JSON getTask ${t?.id}: the task, completed`);
			const restCalls = wire.slice(restFrom).filter((r) => r.request.method !== 'GET' || !r.request.url.endsWith('agent-card.json'));
			check(restCalls.length > 0 && restCalls.every((r) => r.request.url.startsWith(`${rest}/`)),
				`HTTP+JSON: every call went to the relay's REST face ${rest}`, restCalls.map((r) => r.request.url));
		});
	}
} catch (err) {
	fail(`unexpected error: ${err?.message ?? err}`, err);
}

finish(`${sdk.label} through the relay ${relay}`);
