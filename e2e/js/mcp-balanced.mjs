#!/usr/bin/env node
// Runs one 2025-11-25 session of the reference TypeScript MCP SDK client
// (Client + StreamableHTTPClientTransport) through a load balancer in front of
// several Parley replicas (issue 13; e2e/balancer_test.go puts nginx there).
// Every request of the session may land on another replica.
//
//   node mcp-balanced.mjs <mcp-url>
//
// Prints "SESSION <id>" (the test checks the balancer's log for it), one line
// per check ("ok   …" or "FAIL …"), and ends with "PASS <n> checks" or the
// failures; exits 1 on any failure, 2 on bad usage.
//
// It answers elicitation (a big refund's confirmation) and sampling (a
// ticket's summary): the answer's POST may land on a replica other than the
// one running the call. It subscribes to a ticket, whose updates come on its
// standalone GET stream, wherever that stream landed.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { isDeepStrictEqual, inspect } from 'node:util';

const url = process.argv[2] ?? process.env.PARLEY_MCP_URL;
if (!url) {
	console.error('usage: node mcp-balanced.mjs <mcp-url>  (or set PARLEY_MCP_URL)');
	process.exit(2);
}

// The whole run must finish in this time; a hang is a failure too.
const overall = setTimeout(() => fail('the run did not finish within 90s'), 90_000);
overall.unref();

let checks = 0;
const failures = [];
function show(detail) {
	if (detail !== undefined) {
		console.log(inspect(detail, { depth: 8 }).replace(/^/gm, '     '));
	}
}
function fail(what, detail) {
	console.log(`FAIL ${what}`);
	show(detail);
	process.exit(1);
}
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

const client = new Client(
	{ name: 'ts-e2e-balanced', version: '1.0.0' },
	{ capabilities: { elicitation: { form: {} }, sampling: {} } },
);
// What the person and the model were asked.
const asked = [];
client.setRequestHandler(ElicitRequestSchema, async (req) => {
	asked.push(`confirm: ${req.params.message}`);
	return { action: 'accept', content: { confirm: true } };
});
client.setRequestHandler(CreateMessageRequestSchema, async () => {
	asked.push('sample');
	return { model: 'ts-e2e-model', role: 'assistant', content: { type: 'text', text: 'Acme was charged twice.' } };
});
// The resources/updated notifications heard, and who waits for the next.
const updates = [];
let onUpdate = () => {};
client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
	updates.push(n.params.uri);
	onUpdate();
});
function updated(count, ms) {
	return new Promise((resolve) => {
		const done = () => { if (updates.length >= count) { clearTimeout(timer); resolve(true); } };
		const timer = setTimeout(() => resolve(false), ms);
		onUpdate = done;
		done();
	});
}
const transport = new StreamableHTTPClientTransport(new URL(url));
try {
	await client.connect(transport);
} catch (err) {
	fail(`connecting to ${url}: ${err?.message ?? err}`, err);
}

async function call(name, args, options) {
	let res;
	try {
		res = await client.callTool({ name, arguments: args }, undefined, options);
	} catch (err) {
		fail(`${name} ${JSON.stringify(args)}: ${err?.message ?? err}`, err);
	}
	if (res.isError) fail(`${name} ${JSON.stringify(args)} returned a tool error`, res.content);
	if (res.structuredContent === undefined) fail(`${name} returned no structured content`, res);
	return res.structuredContent;
}

try {
	const sid = transport.sessionId;
	if (typeof sid !== 'string' || sid === '') fail('the server assigned no Mcp-Session-Id', sid);
	console.log(`SESSION ${sid}`);
	checkEqual(transport.protocolVersion, '2025-11-25', 'negotiated protocol version 2025-11-25');

	// The report: the reference client failed on its second request.
	const { tools } = await client.listTools().catch((err) => fail(`tools/list: ${err?.message ?? err}`, err));
	const names = tools.map((t) => t.name);
	const want = ['save_ticket', 'get_ticket', 'list_tickets', 'save_analysis', 'get_all_analysis',
		'create_task', 'claim_task', 'complete_task', 'wait_for_ticket', 'escalate', 'get_status'];
	checkEqual(want.filter((n) => !names.includes(n)), [], 'tools/list has the tools this run calls');

	const id = `TS-LB-${process.pid}`;
	const created = await call('save_ticket', {
		ticket_id: id, customer: 'ACME-42', category: 'billing', priority: 'high',
		summary: 'charged twice', expected_version: 0,
	});
	checkEqual([created.created, created.ticket?.status, created.ticket?.version], [true, 'new', 1], 'save_ticket creates the ticket');
	checkEqual(await call('get_ticket', { ticket_id: id }), created.ticket, 'get_ticket returns the ticket as saved');
	const page = await call('list_tickets', { status: ['new'], category: 'billing' });
	check(page.tickets?.some((t) => t.id === id), 'list_tickets lists it', page);
	for (const ns of ['sentiment', 'history']) {
		await call('save_analysis', { ticket_id: id, namespace: ns, findings: { ns } });
	}
	const all = await call('get_all_analysis', { ticket_id: id });
	checkEqual(all.analyses?.map((a) => a.namespace).sort(), ['history', 'sentiment'], 'get_all_analysis has both namespaces');
	const task = await call('create_task', { type: `ts-lb-${process.pid}`, payload: { ticket_id: id } });
	const claimed = await call('claim_task', { types: [`ts-lb-${process.pid}`], lease_seconds: 60 });
	check(claimed.task?.id === task.task?.id && claimed.task?.lease_token, 'claim_task claims the task', claimed);
	const done = await call('complete_task', { task_id: claimed.task.id, lease_token: claimed.task.lease_token, result: { ok: true } });
	checkEqual(done.task?.status, 'done', 'complete_task completes it');

	// wait_for_ticket from version 1: the changes made on this session while
	// it runs (on whichever replica) come back as progress.
	const reason = 'refund above the agent limit';
	const progress = [];
	const waiting = client.callTool(
		{ name: 'wait_for_ticket', arguments: { ticket_id: id, statuses: ['escalated'], timeout_seconds: 60, since_version: 1 } },
		undefined,
		{ timeout: 70_000, onprogress: (p) => progress.push(p) },
	);
	await call('save_ticket', { ticket_id: id, status: 'triaged' });
	await call('escalate', { ticket_id: id, reason });
	const waited = await waiting.catch((err) => fail(`wait_for_ticket: ${err?.message ?? err}`, err));
	if (waited.isError) fail('wait_for_ticket returned a tool error', waited.content);
	const w = waited.structuredContent;
	checkEqual([w.reached, w.timed_out, w.ticket?.status, w.changes], [true, false, 'escalated', 2], 'wait_for_ticket returns once escalated, after 2 changes');
	checkEqual(progress.map((p) => p.message), ['triaged', `escalated: ${reason}`], 'wait_for_ticket reports both changes as progress, in order');
	check(progress.every((p, i) => i === 0 || p.progress > progress[i - 1].progress), 'progress values increase', progress);

	// Subscriptions: the subscribes and the changes land on either replica;
	// each change's update comes once, on the GET stream, in order. A change
	// of a second ticket, made last, marks the end: a duplicate of an
	// earlier update would come before its update.
	const uri = `ticket://${id}`;
	const marker = `${id}-M`;
	await call('save_ticket', { ticket_id: marker, customer: 'ACME-42', summary: 'marker' });
	for (const u of [uri, `ticket://${marker}`]) {
		await client.subscribeResource({ uri: u }).catch((err) => fail(`resources/subscribe ${u}: ${err?.message ?? err}`, err));
	}
	for (const summary of ['first', 'second', 'third']) {
		await call('save_ticket', { ticket_id: id, summary });
	}
	await call('save_ticket', { ticket_id: marker, summary: 'changed last' });
	check(await updated(4, 15_000), 'an update for each change of the subscribed tickets', updates);
	checkEqual(updates, [uri, uri, uri, `ticket://${marker}`], 'each update once, in order');
	for (const u of [uri, `ticket://${marker}`]) {
		await client.unsubscribeResource({ uri: u }).catch((err) => fail(`resources/unsubscribe ${u}: ${err?.message ?? err}`, err));
	}

	const status = await call('get_status', {});
	check((status.tickets?.escalated ?? 0) >= 1, 'get_status counts the escalated ticket', status);

	// Server-to-client requests: the answer's POST may go to a replica other
	// than the one running the call. Twice each, so that neither replica's
	// turn decides it.
	for (const i of [0, 1]) {
		const rid = `${id}-R${i}`;
		await call('save_ticket', { ticket_id: rid, customer: 'ACME-42', summary: 'charged twice', refund_amount: 5000 });
		const resolved = await call('save_resolution', { ticket_id: rid, resolution: 'refunded' });
		checkEqual([resolved.saved, resolved.outcome, resolved.ticket?.status], [true, 'saved', 'resolved'],
			`save_resolution ${rid}: confirmed through elicitation and resolved`);
		const sum = await call('summarize_ticket', { ticket_id: rid });
		checkEqual([sum.source, sum.model, sum.summary], ['sampling', 'ts-e2e-model', 'Acme was charged twice.'],
			`summarize_ticket ${rid}: written by the host's model through sampling`);
	}
	check(asked.length === 4 && asked[0].startsWith('confirm: ') && asked[0].includes(`${id}-R0`) && asked[1] === 'sample',
		'the host was asked to confirm each refund (naming the ticket) and to write each summary', asked);

	// DELETE ends the session on whichever replica it lands.
	try {
		await transport.terminateSession();
		check(true, 'DELETE ends the session');
	} catch (err) {
		check(false, `DELETE ends the session: ${err?.message ?? err}`, err);
	}
} catch (err) {
	fail(`unexpected error: ${err?.message ?? err}`, err);
} finally {
	await client.close().catch(() => {});
}

if (failures.length > 0) {
	console.log(`\n${failures.length} of ${checks} checks failed:`);
	for (const f of failures) console.log(`  - ${f}`);
	process.exit(1);
}
console.log(`PASS ${checks} checks against ${url}`);
process.exit(0);
