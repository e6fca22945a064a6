#!/usr/bin/env node
// Drives Parley's admin web UI in headless Chromium (Debian's chromium
// package) with playwright-core, for e2e/ui_test.go:
//
//   UI_URL=http://127.0.0.1:PORT/ui/ UI_ARTIFACTS=DIR node ui.mjs SCENARIO
//
// (without UI_URL, the URL is read from stdin once the browser is up).
//
// Scenarios (each waits for elements, never for a fixed time):
//
//   pages        load every page (UI_AGENT, UI_TICKET, UI_NEGOTIATION name
//                what the detail pages show), verify the audit chain from
//                the Audit page; a screenshot of each page
//   live         open the negotiation list before any negotiation exists,
//                follow the first one that appears, and record what its
//                page showed as rounds arrived, until the outcome
//   drift        approve UI_AGENT's drifted card from its page
//   upstream     approve the changed tools of upstream UI_UPSTREAM from its
//                page, once the page shows them (it updates live)
//   decide       approve negotiation UI_NEGOTIATION, waiting for a person,
//                for UI_AMOUNT
//   login        sign in at the identity provider as UI_USER (the
//                provider's development login form), then load Agents
//
// It prints one JSON line with what it saw on stdout and exits 0, or
// prints why it failed on stderr and exits 1. Errors thrown in the page
// fail the scenario.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

const scenario = process.argv[2];
let url = process.env.UI_URL;
const artifacts = process.env.UI_ARTIFACTS;
const timeout = Number(process.env.UI_TIMEOUT_MS ?? 30000);

const browser = await chromium.launch({
	executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
	headless: true,
	args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
context.setDefaultTimeout(timeout);
const page = await context.newPage();
// Without UI_URL, the URL is the first line of stdin, read once the
// browser is up: a test can start the browser before the gateway, so that
// the browser's start does not eat into what it is to watch.
if (!url) {
	const { createInterface } = await import('node:readline');
	const rl = createInterface({ input: process.stdin });
	url = await new Promise((resolve) => rl.once('line', resolve));
	rl.close();
}
const pageErrors = [];
page.on('pageerror', (err) => pageErrors.push(err.message));
// A refused request (403 for a user without the role) is the page's to
// show, not an error of the page: Chromium logs every failed request.
page.on('console', (msg) => { if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) pageErrors.push(`console: ${msg.text()}`); });

async function shot(name, { fullPage = true } = {}) {
	if (!artifacts) return;
	mkdirSync(artifacts, { recursive: true });
	await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage });
}

// visit shows a page by its hash and waits for what it must show.
async function visit(hash, ready) {
	await page.goto(`${url}${hash}`);
	// The view for hash replaced the previous one (a hash change does not
	// reload the page), then shows what it must.
	await page.waitForFunction((h) => document.body.dataset.route === h, hash);
	await page.locator(ready).first().waitFor();
	const errors = await page.locator('main .error').allTextContents();
	if (errors.length) throw new Error(`${hash} shows an error: ${errors.join('; ')}`);
}

const scenarios = {
	async pages() {
		const { UI_AGENT: agent, UI_TICKET: ticket, UI_NEGOTIATION: neg } = process.env;
		const seen = {};
		for (const [name, hash, ready] of [
			['agents', '#/agents', 'tr[data-agent]'],
			['agent', `#/agents/${encodeURIComponent(agent)}`, '[data-testid=card]'],
			['upstreams', '#/upstreams', 'main section > div > *'],
			['tickets', '#/tickets', 'tr[data-ticket]'],
			['ticket', `#/tickets/${encodeURIComponent(ticket)}`, '[data-testid=approval]'],
			['negotiations', '#/negotiations', 'tr[data-negotiation]'],
			['negotiation', `#/negotiations/${encodeURIComponent(neg)}`, '[data-testid=outcome]'],
			['audit', '#/audit', 'tr[data-seq]'],
		]) {
			await visit(hash, ready);
			seen[name] = (await page.locator('main').innerText()).slice(0, 4000);
			if (name === 'audit') {
				await page.click('#verify');
				await page.locator('[data-testid=verify-result] [data-ok]').waitFor();
				seen.verify = await page.locator('[data-testid=verify-result]').innerText();
			}
			await shot(name);
			// The README's picture (docs/ui-negotiation.png): the top of the page.
			if (name === 'negotiation') await shot('negotiation-top', { fullPage: false });
		}
		return seen;
	},

	async live() {
		await page.goto(`${url}#/negotiations`);
		await page.locator('#live[data-live=on]').waitFor();
		const link = page.locator('tr[data-negotiation] a').first();
		await link.waitFor();
		const id = await page.locator('tr[data-negotiation]').first().getAttribute('data-negotiation');
		await link.click();
		await page.locator('[data-testid=rounds]').waitFor();
		// Record each state of the page as rounds arrive, from inside the
		// page, so that no state between two looks is missed.
		await page.evaluate(() => {
			const snap = () => {
				const s = {
					rounds: document.querySelectorAll('[data-round]').length,
					pending: !!document.querySelector('[data-testid=outcome-pending]'),
					outcome: !!document.querySelector('[data-testid=outcome]'),
				};
				const last = window.__states.at(-1);
				if (!last || last.rounds !== s.rounds || last.pending !== s.pending || last.outcome !== s.outcome) window.__states.push(s);
			};
			window.__states = [];
			snap();
			new MutationObserver(snap).observe(document.getElementById('main'), { childList: true, subtree: true });
		});
		await shot('negotiation-live');
		await page.locator('[data-testid=outcome]').waitFor({ timeout: 60000 });
		await shot('negotiation-done');
		const states = await page.evaluate(() => window.__states);
		const moves = await page.locator('[data-round]').allInnerTexts();
		return { id, states, moves };
	},

	async drift() {
		const agent = process.env.UI_AGENT;
		await visit(`#/agents/${encodeURIComponent(agent)}`, '[data-testid=drift]');
		const diff = await page.locator('[data-testid=diff]').innerText();
		await shot('agent-drift');
		await page.click('#approve');
		await page.locator('[data-testid=no-drift]').waitFor();
		await shot('agent-approved');
		return { diff };
	},

	async upstream() {
		const name = process.env.UI_UPSTREAM;
		await visit(`#/upstreams/${encodeURIComponent(name)}`, '[data-testid=drift]');
		const drifted = await page.locator('[data-testid=drift] table').innerText();
		await shot('upstream-drift');
		await page.click('#approve');
		await page.locator('[data-testid=no-drift]').waitFor();
		await shot('upstream-approved');
		await visit('#/upstreams', `tr[data-upstream="${name}"]`);
		await shot('upstreams-list');
		return { drifted, list: await page.locator('main').innerText() };
	},

	async decide() {
		const neg = process.env.UI_NEGOTIATION;
		await visit(`#/negotiations/${encodeURIComponent(neg)}`, '[data-testid=decide]');
		await page.locator('#live[data-live=on]').waitFor();
		await shot('negotiation-pending-human');
		await page.fill('[data-testid=decide] input[name=amount]', process.env.UI_AMOUNT ?? '300');
		await page.fill('[data-testid=decide] input[name=reason]', 'goodwill, decided in the UI test');
		await page.click('#decide-approve');
		await page.locator('[data-testid=outcome] .badge.approved').waitFor();
		await shot('negotiation-decided');
		return { outcome: await page.locator('[data-testid=outcome]').innerText() };
	},

	async login() {
		await page.goto(`${url}#/agents`);
		await page.click('#signin');
		// The provider's development login form, then its consent form.
		await page.locator('input[name=login]').waitFor();
		await page.fill('input[name=login]', process.env.UI_USER ?? 'admin');
		await page.fill('input[name=password]', 'any');
		await page.click('button[type=submit]');
		// The consent form (a hidden prompt=consent), unless the provider
		// goes straight back to the page.
		const consent = page.locator('input[name=prompt][value=consent]');
		await Promise.race([consent.waitFor({ state: 'attached' }), page.waitForURL(`${url}**`)]);
		if (!page.url().startsWith(url)) await page.click('button[type=submit]');
		await page.waitForURL(`${url}**`);
		await page.locator('#who:has-text("signed in as")').waitFor();
		await page.locator('body[data-page=agents] main section > div > *').first().waitFor();
		if (process.env.UI_WAIT_LIVE) await page.locator('#live[data-live=on]').waitFor();
		await shot(`signed-in-${process.env.UI_USER ?? 'admin'}`);
		return {
			who: await page.locator('#who').innerText(),
			main: await page.locator('main').innerText(),
			url: page.url(),
			// The token lives in the page's memory only.
			storage: await page.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } })),
		};
	},
};

let code = 0;
try {
	if (!scenarios[scenario]) throw new Error(`unknown scenario ${JSON.stringify(scenario)} (known: ${Object.keys(scenarios).join(', ')})`);
	if (!url) throw new Error('set UI_URL, or write the URL on stdin');
	const out = await scenarios[scenario]();
	if (pageErrors.length) throw new Error(`errors in the page: ${pageErrors.join('; ')}`);
	console.log(JSON.stringify(out));
} catch (err) {
	await shot(`${scenario}-failed`).catch(() => {});
	console.error(`ui.mjs ${scenario}: ${err.stack ?? err}`);
	if (pageErrors.length) console.error(`errors in the page: ${pageErrors.join('; ')}`);
	code = 1;
} finally {
	await browser.close();
}
process.exit(code);
