#!/usr/bin/env node
// The reference TypeScript MCP SDK client's 2025-11-25 session through a load
// balancer, across the death of the replica running its call (issue 13;
// e2e/balancer_kill_test.go drives it):
//
//   node mcp-kill.mjs <mcp-url> <doomed-replica-mcp-url>
//
// Its initialize and its wait_for_ticket go to the doomed replica directly,
// everything else to <mcp-url> (the balancer), so that the replica that
// opened the session runs the call. Once the first progress report
// arrived, it prints "KILL" and waits for a line on stdin, which the test
// writes once it has killed the doomed replica. It then changes the ticket through the
// balancer; the SDK resumes the call's stream by itself (GET with
// Last-Event-ID), landing on the other replica, which takes the call over.
// Every report must arrive exactly once, in order, and then the result.
// Prints one line per check and "PASS <n> checks", or the failures (exit 1).

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createInterface } from 'node:readline';
import { isDeepStrictEqual, inspect } from 'node:util';

const [url, doomed] = process.argv.slice(2);
if (!url || !doomed) {
	console.error('usage: node mcp-kill.mjs <mcp-url> <doomed-replica-mcp-url>');
	process.exit(2);
}
const overall = setTimeout(() => fail('the run did not finish within 90s'), 90_000);
overall.unref();

let checks = 0;
const failures = [];
function fail(what, detail) {
	console.log(`FAIL ${what}`);
	if (detail !== undefined) console.log(inspect(detail, { depth: 8 }).replace(/^/gm, '     '));
	process.exit(1);
}
function checkEqual(got, want, what) {
	checks++;
	if (isDeepStrictEqual(got, want)) {
		console.log(`ok   ${what}`);
		return;
	}
	console.log(`FAIL ${what}`);
	console.log(inspect({ got, want }, { depth: 8 }).replace(/^/gm, '     '));
	failures.push(what);
}

const transport = new StreamableHTTPClientTransport(new URL(url), {
	fetch: (input, init) => {
		const body = typeof init?.body === 'string' ? init.body : '';
		const direct = body.includes('"method":"initialize"') || body.includes('"wait_for_ticket"');
		return fetch(direct ? doomed : input, init);
	},
	// A few tries a second apart: the other replica answers the first.
	reconnectionOptions: { initialReconnectionDelay: 200, maxReconnectionDelay: 2000, reconnectionDelayGrowFactor: 1.5, maxRetries: 10 },
});
const client = new Client({ name: 'ts-e2e-kill', version: '1.0.0' }, { capabilities: {} });
await client.connect(transport).catch((err) => fail(`connecting to ${url}: ${err?.message ?? err}`, err));

async function call(name, args) {
	const res = await client.callTool({ name, arguments: args }).catch((err) => fail(`${name}: ${err?.message ?? err}`, err));
	if (res.isError) fail(`${name} returned a tool error`, res.content);
	return res.structuredContent;
}

const lines = createInterface({ input: process.stdin });
const told = new Promise((resolve) => lines.once('line', resolve));

try {
	const id = `TS-KILL-${process.pid}`;
	await call('save_ticket', { ticket_id: id, customer: 'ACME-42', summary: 'charged twice' });
	const progress = [];
	let first;
	const firstReport = new Promise((resolve) => { first = resolve; });
	const waiting = client.callTool(
		{ name: 'wait_for_ticket', arguments: { ticket_id: id, statuses: ['resolved'], timeout_seconds: 80, since_version: 1 } },
		undefined,
		{ timeout: 85_000, onprogress: (p) => { progress.push(p); first(); } },
	);
	await call('save_ticket', { ticket_id: id, status: 'triaged' });
	await firstReport;
	console.log('KILL');
	await told;

	await call('save_ticket', { ticket_id: id, category: 'billing' });
	await call('save_ticket', { ticket_id: id, status: 'resolved' });
	const waited = await waiting.catch((err) => fail(`wait_for_ticket: ${err?.message ?? err}`, err));
	if (waited.isError) fail('wait_for_ticket returned a tool error', waited.content);
	const w = waited.structuredContent;
	checkEqual([w.reached, w.ticket?.status, w.changes], [true, 'resolved', 3], 'wait_for_ticket returns once resolved, after 3 changes, across the kill');
	checkEqual(progress.map((p) => [p.progress, p.message.endsWith('updated category') ? '… updated category' : p.message]),
		[[1, 'triaged'], [2, '… updated category'], [3, 'resolved']],
		'every change reported once, in order, across the kill');
} catch (err) {
	fail(`unexpected error: ${err?.message ?? err}`, err);
} finally {
	lines.close();
	await client.close().catch(() => {});
}
if (failures.length > 0) {
	console.log(`\n${failures.length} of ${checks} checks failed`);
	process.exit(1);
}
console.log(`PASS ${checks} checks against ${url}`);
process.exit(0);
