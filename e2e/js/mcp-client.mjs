#!/usr/bin/env node
// Drives a running Parley gateway with the reference TypeScript MCP SDK
// (@modelcontextprotocol/sdk): Client + StreamableHTTPClientTransport.
//
//   node mcp-client.mjs <mcp-url> [confirm-refund-above]
//
// The URL may also come from PARLEY_MCP_URL and the threshold from
// PARLEY_CONFIRM_REFUND_ABOVE (default 200, as e2e/mcp_ts_test.go starts the
// gateway with --mcp-confirm-refund-above 200). Prints one line per check
// ("ok   …" or "FAIL …"), goes on past a failed check where later ones do not
// depend on it, ends with "PASS <n> checks" or a list of the failures, and
// exits 1 on any failure (2 on bad usage).

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { isDeepStrictEqual, inspect } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import * as z from 'zod';

const url = process.argv[2] ?? process.env.PARLEY_MCP_URL;
if (!url) {
	console.error('usage: node mcp-client.mjs <mcp-url> [confirm-refund-above]  (or set PARLEY_MCP_URL)');
	process.exit(2);
}
const confirmAbove = Number(process.argv[3] ?? process.env.PARLEY_CONFIRM_REFUND_ABOVE ?? 200);
if (!Number.isFinite(confirmAbove) || confirmAbove < 0) {
	console.error(`confirm-refund-above: ${process.argv[3] ?? process.env.PARLEY_CONFIRM_REFUND_ABOVE} is not a non-negative number`);
	process.exit(2);
}

// The whole run must finish in this time; a hang is a failure too.
const overall = setTimeout(() => fail('the run did not finish within 90s'), 90_000);
overall.unref();

const WANT_PROTOCOL = '2025-11-25';
const CONTRACT_TOOLS = [
	'save_ticket', 'get_ticket', 'list_tickets', 'save_resolution', 'escalate', 'get_status',
	'save_analysis', 'get_all_analysis', 'create_task', 'claim_task', 'complete_task',
	'wait_for_ticket', 'summarize_ticket',
];

let checks = 0;
const failures = [];
function show(detail) {
	if (detail !== undefined) {
		console.log(typeof detail === 'string' ? detail : inspect(detail, { depth: 8 }).replace(/^/gm, '     '));
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
		console.log(`\n${failures.length} of ${checks} checks failed:`);
		for (const f of failures) console.log(`  - ${f}`);
	}
}

// A unique prefix, so that the script can run against a gateway (and a
// store) that already holds tickets.
const run = `TS-${Date.now().toString(36)}-${process.pid}`;

// --- clients -----------------------------------------------------------------

// elicitations received by the resolver client, and the answer planned for
// each ticket ID.
const elicitations = [];
const plannedAnswers = new Map();

async function connect(name, { elicit = false } = {}) {
	const client = new Client(
		{ name, version: '1.0.0' },
		{ capabilities: elicit ? { elicitation: { form: {} } } : {} },
	);
	if (elicit) {
		client.setRequestHandler(ElicitRequestSchema, async (req) => {
			const p = req.params;
			elicitations.push(p);
			for (const [id, answer] of plannedAnswers) {
				if (p.message.includes(`ticket ${id} `)) {
					plannedAnswers.delete(id);
					return answer;
				}
			}
			// Unplanned: say no, and let the check on the elicitations fail.
			return { action: 'cancel' };
		});
	}
	const transport = new StreamableHTTPClientTransport(new URL(url));
	try {
		await client.connect(transport);
	} catch (err) {
		fail(`${name}: connecting to ${url}: ${err?.message ?? err}`, err);
	}
	return { client, transport };
}

// call calls a tool and fails the run on a protocol error or a tool error.
async function call(client, name, args, options) {
	let res;
	try {
		res = await client.callTool({ name, arguments: args }, undefined, options);
	} catch (err) {
		fail(`${name} ${JSON.stringify(args)}: ${err?.message ?? err}`, err);
	}
	if (res.isError) {
		fail(`${name} ${JSON.stringify(args)} returned a tool error`, res.content);
	}
	if (res.structuredContent === undefined) {
		fail(`${name} returned no structured content`, res);
	}
	return res;
}

const waiter = await connect('ts-e2e-waiter');
const resolver = await connect('ts-e2e-resolver', { elicit: true });

try {
	// --- connection ----------------------------------------------------------
	checkEqual(LATEST_PROTOCOL_VERSION, WANT_PROTOCOL, `the SDK's latest protocol version is ${WANT_PROTOCOL}`);
	checkEqual(waiter.transport.protocolVersion, WANT_PROTOCOL, `negotiated protocol version ${WANT_PROTOCOL}`);
	check(typeof waiter.transport.sessionId === 'string' && waiter.transport.sessionId !== '',
		'the server assigned an Mcp-Session-Id', waiter.transport.sessionId);
	check(waiter.transport.sessionId !== resolver.transport.sessionId,
		'two clients get two sessions', [waiter.transport.sessionId, resolver.transport.sessionId]);
	const server = waiter.client.getServerVersion();
	check(typeof server?.name === 'string' && server.name !== '', `server identifies itself (${server?.name} ${server?.version})`, server);
	check(waiter.client.getServerCapabilities()?.tools !== undefined, 'server declares the tools capability',
		waiter.client.getServerCapabilities());

	// --- tools/list ----------------------------------------------------------
	// client.listTools() parses the result with the SDK's own schema and
	// caches each tool's output schema: every later callTool then validates
	// structuredContent against it. If the SDK rejects the list, say so and
	// go on with a lenient parse, to check the rest.
	let tools;
	for (const [who, { client }] of [['waiter', waiter], ['resolver', resolver]]) {
		try {
			({ tools } = await client.listTools());
			check(true, `tools/list (${who}) passes the SDK's schema (client.listTools())`);
		} catch (err) {
			check(false, `tools/list (${who}) passes the SDK's schema (client.listTools() threw; structured output will not be validated)`,
				err?.issues ?? err);
			({ tools } = await client.request({ method: 'tools/list' },
				z.looseObject({ tools: z.array(z.looseObject({ name: z.string() })) })));
		}
	}
	const names = tools.map((t) => t.name);
	const missing = CONTRACT_TOOLS.filter((n) => !names.includes(n));
	if (!check(missing.length === 0, `tools/list has all ${CONTRACT_TOOLS.length} contract tools`, { missing, names })) {
		fail('cannot go on without the contract tools');
	}
	const noSchema = tools.filter((t) => CONTRACT_TOOLS.includes(t.name) && (t.inputSchema?.type !== 'object' || t.outputSchema?.type !== 'object'));
	check(noSchema.length === 0, 'every contract tool has object input and output schemas', noSchema.map((t) => t.name));
	// The SDK's Tool schema wants every top-level property schema to be an
	// object; JSON Schema also allows true/false, which it rejects. This says
	// which property made listTools() throw above.
	const boolProps = tools.flatMap((t) => ['inputSchema', 'outputSchema'].flatMap((k) =>
		Object.entries(t[k]?.properties ?? {})
			.filter(([, v]) => typeof v !== 'object' || v === null)
			.map(([prop, v]) => `${t.name}: ${k}.properties.${prop} is ${JSON.stringify(v)}, not an object`)));
	check(boolProps.length === 0, 'no tool has a boolean top-level property schema (the TypeScript SDK rejects them)', boolProps);
	const save = tools.find((t) => t.name === 'save_ticket');
	const props = Object.keys(save.inputSchema?.properties ?? {});
	const wantProps = ['ticket_id', 'customer', 'category', 'priority', 'summary', 'refund_amount', 'status', 'expected_version'];
	check(wantProps.every((p) => props.includes(p)), `save_ticket takes ${wantProps.join(', ')}`, props);

	// --- save_ticket / get_ticket ---------------------------------------------
	const refund = confirmAbove + 150;
	const id = `${run}-1`;
	const created = await call(waiter.client, 'save_ticket', {
		ticket_id: id, customer: 'ACME-42', category: 'billing', priority: 'high',
		summary: 'charged twice for the March invoice', refund_amount: refund, expected_version: 0,
	});
	const sc = created.structuredContent;
	checkEqual(sc.created, true, 'save_ticket creates the ticket (created: true)');
	checkEqual(
		{ id: sc.ticket?.id, customer: sc.ticket?.customer, category: sc.ticket?.category, priority: sc.ticket?.priority,
			status: sc.ticket?.status, refund_amount: sc.ticket?.refund_amount, version: sc.ticket?.version },
		{ id, customer: 'ACME-42', category: 'billing', priority: 'high', status: 'new', refund_amount: refund, version: 1 },
		`save_ticket structured content: ${id}, new, refund ${refund} (above ${confirmAbove}), version 1`);
	const text = created.content.find((c) => c.type === 'text');
	check(text && isDeepStrictEqual(JSON.parse(text.text), sc), 'save_ticket text content is the structured content as JSON', created.content);
	const link = created.content.find((c) => c.type === 'resource_link');
	checkEqual(link?.uri, `ticket://${id}`, 'save_ticket links the ticket resource');

	const got = await call(waiter.client, 'get_ticket', { ticket_id: id });
	checkEqual(got.structuredContent, sc.ticket, 'get_ticket returns the ticket as saved');

	// --- wait_for_ticket with progress ----------------------------------------
	// The waiter waits for "resolved" and hears every change as progress,
	// while the resolver moves the ticket triaged → escalated → resolved.
	const progress = [];
	let progressed = () => {};
	const waiting = waiter.client.callTool(
		{ name: 'wait_for_ticket', arguments: { ticket_id: id, statuses: ['resolved'], timeout_seconds: 45 } },
		undefined,
		{
			timeout: 60_000,
			onprogress: (p) => {
				progress.push(p);
				progressed();
			},
		},
	);
	const waitFailed = waiting.then(() => null, (err) => err);
	const nextProgress = (ms) => new Promise((resolve) => {
		const t = setTimeout(() => resolve(false), ms);
		progressed = () => {
			clearTimeout(t);
			resolve(true);
		};
	});

	// Nothing tells the client that the server has started watching, so
	// touch a field until a change comes back as progress: from then on, no
	// change can be missed.
	let synced = false;
	for (let i = 1; i <= 20 && !synced; i++) {
		const heard = nextProgress(500);
		await call(resolver.client, 'save_ticket', { ticket_id: id, summary: `charged twice for the March invoice (sync ${i})` });
		synced = await heard;
		const err = await Promise.race([waitFailed, sleep(0, 'pending')]);
		if (err !== 'pending') fail('wait_for_ticket ended before the ticket changed status', err ?? await waiting);
	}
	check(synced, `wait_for_ticket reports a field change as progress (after ${progress.length} touch(es))`, progress);
	const syncCount = progress.length;
	progressed = () => {};

	const reason = 'refund above the agent limit';
	const triaged = await call(resolver.client, 'save_ticket', { ticket_id: id, status: 'triaged' });
	checkEqual(triaged.structuredContent.ticket.status, 'triaged', 'save_ticket status triaged');
	const escalated = await call(resolver.client, 'escalate', { ticket_id: id, reason });
	checkEqual([escalated.structuredContent.ticket.status, escalated.structuredContent.ticket.escalated], ['escalated', true],
		'escalate marks the ticket escalated');

	// The refund is above the threshold: resolving asks the resolver's person
	// to confirm, through elicitation on the resolver's session.
	plannedAnswers.set(id, { action: 'accept', content: { confirm: true } });
	const resolved = await call(resolver.client, 'save_resolution', { ticket_id: id, resolution: 'refunded the duplicate charge' });
	checkEqual([resolved.structuredContent.saved, resolved.structuredContent.outcome, resolved.structuredContent.ticket?.status],
		[true, 'saved', 'resolved'], 'save_resolution on the watched ticket: confirmed through elicitation and resolved');
	check(elicitations.length === 1 && elicitations[0].message.includes(`ticket ${id} `),
		'the resolver (not the waiter) was asked to confirm that ticket', elicitations);

	const waited = await waiting.catch((err) => fail(`wait_for_ticket: ${err?.message ?? err}`, err));
	if (waited.isError) fail('wait_for_ticket returned a tool error', waited.content);
	const w = waited.structuredContent;
	checkEqual([w.reached, w.timed_out, w.ticket?.status], [true, false, 'resolved'], 'wait_for_ticket returns once the ticket is resolved');
	const messages = progress.map((p) => p.message);
	checkEqual(messages.slice(syncCount), ['triaged', `escalated: ${reason}`, 'resolved'],
		'progress messages after the sync arrive in order: triaged, escalated: <reason>, resolved');
	check(messages.slice(0, syncCount).every((m) => /updated summary/.test(m)),
		'the sync progress messages describe the summary updates', messages.slice(0, syncCount));
	check(progress.every((p, i) => i === 0 || p.progress > progress[i - 1].progress), 'progress values increase', progress);
	checkEqual(w.changes, progress.length, `wait_for_ticket counted ${progress.length} changes, one per progress notification`);

	// --- elicitation: accept one ticket, decline (or cancel) the others -------
	// Each case is a fresh ticket above the threshold; the resolver's
	// handler answers as planned for that ticket's ID.
	const cases = [
		{ name: 'accept', answer: { action: 'accept', content: { confirm: true } }, refund: confirmAbove + 1, saved: true, outcomes: ['saved'] },
		// Outcomes are "declined" (decline, or accept with confirm false) and
		// action through ("decline") and says "declined" for accept with
		// confirm false. Either word is a refusal.
		{ name: 'decline', answer: { action: 'decline' }, refund: confirmAbove + 700, saved: false, outcomes: ['declined'] },
		{ name: 'accept-false', answer: { action: 'accept', content: { confirm: false } }, refund: confirmAbove + 50, saved: false, outcomes: ['declined'] },
		{ name: 'cancel', answer: { action: 'cancel' }, refund: confirmAbove + 20, saved: false, outcomes: ['cancelled'] },
	];
	for (const c of cases) {
		const tid = `${run}-${c.name}`;
		const label = c.name === 'accept-false' ? 'accept {confirm: false}' : c.name === 'accept' ? 'accept {confirm: true}' : c.name;
		const r = await call(resolver.client, 'save_ticket', {
			ticket_id: tid, customer: 'Globex', category: 'billing', priority: 'medium',
			summary: 'refund for a cancelled plan', refund_amount: c.refund, expected_version: 0,
		});
		checkEqual([r.structuredContent.created, r.structuredContent.ticket?.refund_amount], [true, c.refund],
			`created ${tid} with refund ${c.refund} (above ${confirmAbove})`);
		const before = (await call(resolver.client, 'get_ticket', { ticket_id: tid })).structuredContent;

		const asked = elicitations.length;
		plannedAnswers.set(tid, c.answer);
		const res = await call(resolver.client, 'save_resolution', { ticket_id: tid, resolution: 'refund approved' });
		const el = elicitations[asked];
		checkEqual(elicitations.length, asked + 1, `${label}: one elicitation for save_resolution`);
		check(el !== undefined && el.message.includes(`ticket ${tid} `) && el.message.includes(c.refund.toFixed(2)),
			`${label}: the elicitation names the ticket and the refund`, el?.message);
		check(el !== undefined && (el.mode ?? 'form') === 'form' && el.requestedSchema?.properties?.confirm?.type === 'boolean',
			`${label}: the elicitation is a form with a boolean confirm field`, el);

		const out = res.structuredContent;
		const after = (await call(waiter.client, 'get_ticket', { ticket_id: tid })).structuredContent;
		if (c.saved) {
			checkEqual([out.saved, out.outcome, out.ticket?.status, out.ticket?.resolution, out.ticket?.version],
				[true, 'saved', 'resolved', 'refund approved', 2], `${label}: saved, outcome saved, ticket resolved (version 2)`);
			checkEqual(after, out.ticket, `${label}: get_ticket (other session) shows the resolved ticket`);
		} else {
			check(out.saved === false && c.outcomes.includes(out.outcome),
				`${label}: saved false, outcome ${JSON.stringify(out.outcome)}`, { got: out, wantOutcome: c.outcomes });
			checkEqual(after, before, `${label}: the ticket is unchanged (get_ticket: status ${after.status}, version ${after.version}, no resolution)`);
			checkEqual([after.status, after.resolution, after.version], ['new', undefined, 1], `${label}: the ticket is still new, version 1`);
		}
	}
	checkEqual(plannedAnswers.size, 0, 'every planned answer was used');
} catch (err) {
	fail(`unexpected error: ${err?.message ?? err}`, err);
} finally {
	for (const c of [waiter, resolver]) {
		await c.transport.terminateSession().catch(() => {});
		await c.client.close().catch(() => {});
	}
}

if (failures.length > 0) {
	summary();
	process.exit(1);
}
console.log(`PASS ${checks} checks against ${url}`);
process.exit(0);
