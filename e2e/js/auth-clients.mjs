#!/usr/bin/env node
// Drives a Parley gateway that has auth on (e2e/auth_idp_test.go) with real
// clients holding a real IdP's access token (e2e/js/idp.mjs): the reference
// TypeScript MCP SDK (@modelcontextprotocol/sdk) on /mcp, and @a2a-js/sdk
// 1.3.0 (A2A 1.0, no legacyCompat) through the relay /a2a/agents/<agent>/.
//
//   E2E_SUPPORT_TOKEN=<token> node auth-clients.mjs <gateway-base-url> <agent-name> [<issuer>]
//
// The token is a client credentials access token for Parley (aud parley)
// whose principal, "support", the gateway's policy allows get_ticket,
// save_ticket and messages to agents, and denies escalate by the rule named
// in E2E_DENY_RULE (default support-no-escalation). The agent is expected to
// echo what it receives (e2e/a2ajs_relay_test.go's relayEchoExecutor): an
// artifact "echo" whose data part holds the message's metadata.parley.
//
// Checks:
//   MCP   without a token, connecting is refused with 401 and a
//         WWW-Authenticate naming the protected-resource metadata; with the
//         token, tools/list shows get_ticket and save_ticket and not escalate
//         (nor any other tool), save_ticket and get_ticket work, escalate is
//         refused naming the permission and the rule, and the ticket is
//         unchanged;
//   A2A   the relay's card is public; without a token sendMessage fails
//         with 401; with the token (the SDK's createAuthenticatingFetchWithRetry)
//         sendMessage and sendMessageStream reach the agent, which saw the
//         caller (metadata.parley.caller and on_behalf_of) as "support".
//
// The tokens never appear in the output. Output and exit status as for the
// other scripts: "ok   …" / "FAIL …" lines, "PASS <n> checks: …" or a list
// of the failures; exit 1 on any failure, 2 on bad usage.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import {
	check, checkEqual, deadline, fail, finish, printExchanges, sdkVersion, setLabel, show, step, streamLine, streamShape,
	textOf, dataOf, wire,
} from './a2a-sdk.mjs';

const usage = 'usage: E2E_SUPPORT_TOKEN=<token> node auth-clients.mjs <gateway-base-url> <agent-name> [<issuer>]';
const [rawBase, agent, issuer] = process.argv.slice(2);
const base = (rawBase ?? '').replace(/\/+$/, '');
const token = process.env.E2E_SUPPORT_TOKEN ?? '';
const denyRule = process.env.E2E_DENY_RULE || 'support-no-escalation';
if (!base || !agent || !token) {
	console.error(usage);
	process.exit(2);
}
// The principal the token names: its sub (client credentials: the client).
const principal = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString() || '{}').sub;
if (typeof principal !== 'string' || principal === '') {
	console.error('E2E_SUPPORT_TOKEN is not a JWT with a sub claim');
	process.exit(2);
}

deadline(90_000);
setLabel(`auth through ${base} as ${principal}`);

// authorizationOf says what a request's Authorization header held, without
// printing a token: "none", "the support token" or "another value".
function authorizationOf(init, input) {
	const h = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)).get('authorization');
	if (h === null) return 'none';
	return h === `Bearer ${token}` ? 'the support token' : 'another value';
}

// --- MCP: the reference TypeScript SDK ---------------------------------------------------

const mcpURL = new URL(`${base}/mcp`);
const mcpWire = []; // {method, status, wwwAuthenticate, authorization}
const mcpFetch = async (input, init) => {
	const rec = { method: init?.method ?? 'GET', authorization: authorizationOf(init, input) };
	mcpWire.push(rec);
	const res = await fetch(input, init);
	rec.status = res.status;
	rec.wwwAuthenticate = res.headers.get('www-authenticate');
	return res;
};

async function mcpConnect(name, withToken) {
	const client = new Client({ name, version: '1.0.0' }, { capabilities: {} });
	const transport = new StreamableHTTPClientTransport(mcpURL, {
		fetch: mcpFetch,
		requestInit: withToken ? { headers: { Authorization: `Bearer ${token}` } } : undefined,
	});
	await client.connect(transport);
	return { client, transport };
}

await step('MCP without a token', async () => {
	const from = mcpWire.length;
	let connected;
	try {
		connected = await mcpConnect('auth-e2e-anonymous', false);
	} catch (err) {
		check(err?.code === 401 || /401/.test(String(err?.message)), `MCP: connecting without a token is refused with 401 (${err?.constructor?.name}: ${String(err?.message).trim()})`, err);
	}
	if (connected) {
		check(false, 'MCP: connecting without a token is refused', connected.transport.sessionId);
		await connected.client.close().catch(() => {});
	}
	const first = mcpWire[from];
	check(first?.status === 401 && /^Bearer\b/.test(first?.wwwAuthenticate ?? '') && /resource_metadata="[^"]+"/.test(first?.wwwAuthenticate ?? ''),
		`MCP: the 401 carries WWW-Authenticate: Bearer resource_metadata="…" (${first?.wwwAuthenticate})`, first);
});

const mcp = await step('MCP with the support token: connect', () => mcpConnect('auth-e2e-support', true));
if (!mcp) fail('cannot go on without an MCP session');
const sdkPkg = await sdkVersion('@modelcontextprotocol/sdk');
console.log(`# @modelcontextprotocol/sdk ${sdkPkg}, session ${mcp.transport.sessionId} as ${principal}`);

const ticket = `AUTH-${Date.now().toString(36)}-${process.pid}`;
try {
	await step('MCP: tools/list', async () => {
		const { tools } = await mcp.client.listTools();
		const names = tools.map((t) => t.name).sort();
		console.log(`     tools/list: ${names.join(', ')}`);
		check(!names.includes('escalate'), 'MCP: tools/list does not show escalate, which the policy denies', names);
		checkEqual(names, ['get_ticket', 'save_ticket'], 'MCP: tools/list shows exactly the allowed tools get_ticket and save_ticket');
	});

	await step('MCP: save_ticket and get_ticket', async () => {
		const saved = await mcp.client.callTool({ name: 'save_ticket', arguments: {
			ticket_id: ticket, customer: 'ACME-7', category: 'billing', priority: 'high', summary: 'double charge', expected_version: 0,
		} });
		check(!saved.isError, 'MCP: save_ticket (allowed) succeeds', saved.content);
		checkEqual([saved.structuredContent?.created, saved.structuredContent?.ticket?.id, saved.structuredContent?.ticket?.status],
			[true, ticket, 'new'], `MCP: save_ticket created ${ticket}, status new`);
		const got = await mcp.client.callTool({ name: 'get_ticket', arguments: { ticket_id: ticket } });
		check(!got.isError, 'MCP: get_ticket (allowed) succeeds', got.content);
		checkEqual(got.structuredContent, saved.structuredContent?.ticket, 'MCP: get_ticket returns the ticket as saved');
	});

	await step('MCP: escalate is refused', async () => {
		let text;
		try {
			const res = await mcp.client.callTool({ name: 'escalate', arguments: { ticket_id: ticket, reason: 'customer is angry' } });
			check(res.isError === true, 'MCP: calling escalate (not listed, denied) returns an error', res);
			text = (res.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
		} catch (err) {
			// A JSON-RPC error is a refusal too.
			check(true, `MCP: calling escalate (not listed, denied) is refused with a JSON-RPC error (${err?.code})`);
			text = String(err?.message ?? err);
		}
		console.log(`     refusal: ${text}`);
		check(text.includes('tool:escalate') && text.includes(denyRule),
			`MCP: the refusal names the permission tool:escalate and the rule ${denyRule}`, text);
		const after = await mcp.client.callTool({ name: 'get_ticket', arguments: { ticket_id: ticket } });
		checkEqual([after.structuredContent?.status, after.structuredContent?.escalated ?? false, after.structuredContent?.version],
			['new', false, 1], 'MCP: the ticket is unchanged after the refused escalate (new, not escalated, version 1)');
	});

	check(mcpWire.filter((r) => r.authorization !== 'none').every((r) => r.authorization === 'the support token'),
		'MCP: every authenticated request carried the support token', mcpWire);
} catch (err) {
	fail(`MCP: unexpected error: ${err?.message ?? err}`, err);
} finally {
	await mcp.transport.terminateSession().catch(() => {});
	await mcp.client.close().catch(() => {});
}

// --- A2A: @a2a-js/sdk 1.3.0 through the relay ------------------------------------------

const {
	ClientFactory, ClientFactoryOptions, DefaultAgentCardResolver, JsonRpcTransportFactory, createAuthenticatingFetchWithRetry,
} = await import('a2a-js-10/client');
const { Role, taskStateToJSON } = await import('a2a-js-10');
const a2aPkg = await sdkVersion('a2a-js-10');
const relay = `${base}/a2a/agents/${encodeURIComponent(agent)}`;

const state = (s) => (s === undefined ? undefined : taskStateToJSON(s).replace(/^TASK_STATE_/, '').toLowerCase().replace('_', '-'));
const plainPart = (p) => {
	switch (p?.content?.$case) {
		case 'text': return { kind: 'text', text: p.content.value };
		case 'data': return { kind: 'data', data: p.content.value };
		default: return { kind: p?.content?.$case ?? 'unknown', raw: p };
	}
};
const plainMessage = (m) => m && { kind: 'message', parts: (m.parts ?? []).map(plainPart) };
const plainArtifact = (a) => a && { name: a.name, parts: (a.parts ?? []).map(plainPart) };
const plainEvent = (ev) => {
	const v = ev.payload?.value;
	switch (ev.payload?.$case) {
		case 'task': return { kind: 'task', state: state(v.status?.state) };
		case 'statusUpdate': return { kind: 'status', state: state(v.status?.state), message: plainMessage(v.status?.message) };
		case 'artifactUpdate': return { kind: 'artifact', artifact: plainArtifact(v.artifact) };
		default: return { kind: ev.payload?.$case ?? 'unknown' };
	}
};
const request = (text, data) => ({
	tenant: '',
	message: {
		messageId: crypto.randomUUID(), contextId: '', taskId: '', role: Role.ROLE_USER,
		parts: [
			{ content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: 'text/plain' },
			{ content: { $case: 'data', value: data }, metadata: undefined, filename: '', mediaType: 'application/json' },
		],
		metadata: undefined, extensions: [], referenceTaskIds: [],
	},
	configuration: undefined,
	metadata: undefined,
});

// What each A2A call sent as Authorization, in order (the tokens unprinted).
const a2aAuth = [];
const recordingFetch = (input, init) => {
	a2aAuth.push({ url: String(input instanceof Request ? input.url : input), authorization: authorizationOf(init, input) });
	return fetch(input, init);
};
// The SDK's own way to add credentials: headers() before every request.
const authFetch = createAuthenticatingFetchWithRetry(recordingFetch, {
	headers: async () => ({ Authorization: `Bearer ${token}` }),
	shouldRetryWithHeaders: async () => undefined,
});
const factoryWith = (fetchImpl) => new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
	transports: [new JsonRpcTransportFactory({ fetchImpl })],
	cardResolver: new DefaultAgentCardResolver({ fetchImpl: recordingFetch }), // the card is public
}));

// checkEcho checks the agent's echo artifact: what was sent, and who the
// gateway said the caller was.
function checkEcho(artifacts, text, data, what) {
	const a = (artifacts ?? []).find((x) => x?.name === 'echo');
	check(a !== undefined, `${what}: the agent's echo artifact`, artifacts);
	const echo = dataOf(a?.parts);
	checkEqual([echo?.agent, echo?.texts, echo?.data], [agent, [text], [data]], `${what}: the agent echoes the text and data sent`);
	const p = echo?.parley ?? {};
	checkEqual([p.via, p.caller], ['parley', principal], `${what}: the agent saw metadata.parley via parley, caller ${principal}`);
	const obo = p.on_behalf_of ?? {};
	check(obo.sub === principal && obo.client === principal && (issuer === undefined || obo.iss === issuer),
		`${what}: metadata.parley.on_behalf_of names ${principal} (client ${principal}${issuer ? `, iss ${issuer}` : ''})`, p);
	check(!JSON.stringify(echo ?? {}).includes(token), `${what}: the agent's echo holds no trace of the caller's token`);
}

await step('A2A without a token', async () => {
	const from = a2aAuth.length;
	const client = await factoryWith(recordingFetch).createFromUrl(`${relay}/`);
	check(a2aAuth.slice(from).every((r) => r.authorization === 'none'), "A2A: the relay's card is fetched without a token (cards are public)", a2aAuth.slice(from));
	const card = await client.getAgentCard();
	console.log(`     relay card: ${card.name}, securitySchemes ${JSON.stringify(card.securitySchemes ?? {})}`);
	let refused;
	try {
		const r = await client.sendMessage(request('anonymous hello', { anonymous: true }));
		check(false, 'A2A: sendMessage through the relay without a token is refused', r);
	} catch (err) {
		refused = err;
	}
	if (refused) {
		const rec = wire.filter((r) => r.request.method === 'POST' && r.request.url === relay).at(-1);
		await rec?.done;
		check(rec?.response?.status === 401, `A2A: sendMessage through the relay without a token is refused with 401 (${refused?.message})`, rec);
	}
});

await step(`A2A: @a2a-js/sdk ${a2aPkg} through the relay with the support token`, async () => {
	const from = a2aAuth.length;
	const client = await factoryWith(authFetch).createFromUrl(`${relay}/`);
	checkEqual([client.protocolVersion, client.transport.protocolName], ['1.0', 'JSONRPC'],
		`A2A: the client factory picked JSON-RPC 1.0 at the relay ${relay}`);

	const text = `hello ${agent}, on behalf of ${principal} (${ticket})`;
	const data = { ticket, purpose: 'sendMessage', n: 7 };
	const t = await client.sendMessage(request(text, data));
	check('status' in t && 'id' in t, 'A2A: sendMessage returns a task', t);
	checkEqual(state(t.status?.state), 'completed', 'A2A: sendMessage: the task completed');
	checkEcho((t.artifacts ?? []).map(plainArtifact), text, data, 'A2A sendMessage');

	const sdata = { ticket, purpose: 'sendMessageStream' };
	const evs = [];
	for await (const ev of client.sendMessageStream(request(`${text} (streamed)`, sdata))) evs.push(plainEvent(ev));
	console.log(`     stream: ${streamLine(evs)}`);
	checkEqual(streamShape(evs), ['task:submitted', 'status:working', 'artifact', 'status:completed'],
		'A2A: sendMessageStream: task(submitted) → status(working) → artifact → status(completed)');
	checkEcho(evs.filter((e) => e.kind === 'artifact').map((e) => e.artifact), `${text} (streamed)`, sdata, 'A2A sendMessageStream');
	check(textOf(evs.at(-1)?.message).includes(agent), `A2A: the completion has ${agent}'s message`, evs.at(-1));

	const calls = a2aAuth.slice(from).filter((r) => r.url === relay);
	check(calls.length >= 2 && calls.every((r) => r.authorization === 'the support token'),
		`A2A: every JSON-RPC call to the relay (${calls.length}) carried the support token`, calls);
});

const errors = wire.filter((r) => r.request.method === 'POST' && r.request.url === relay && r.response && r.response.status !== 200 && r.response.status !== 401);
if (errors.length > 0) {
	show('unexpected HTTP statuses from the relay:');
	await printExchanges('relay errors', errors);
}
finish(`@modelcontextprotocol/sdk ${sdkPkg} and @a2a-js/sdk ${a2aPkg} through ${base} as ${principal}`);
