// DOM helpers: elements are built with h(), never from HTML strings, so
// that nothing the gateway returns (agent cards, rationales, ticket
// text) is ever parsed as markup.

export function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs ?? {})) {
		if (v == null || v === false) continue;
		if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
		else if (k === 'class') el.className = v;
		else el.setAttribute(k, v === true ? '' : String(v));
	}
	append(el, children);
	return el;
}

function append(el, children) {
	for (const c of children) {
		if (c == null || c === false) continue;
		if (Array.isArray(c)) append(el, c);
		else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
}

export const badge = (text, kind) => h('span', { class: `badge ${kind ?? text}` }, text);

export function when(t) {
	if (!t) return '';
	const d = new Date(t);
	return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString();
}

export const json = (v) => JSON.stringify(v, null, 2);

// terms renders terms compactly: {"amount": 350} as amount 350.
export function terms(t) {
	if (t == null) return '';
	if (typeof t !== 'object') return String(t);
	return Object.entries(t).map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ');
}

export const dl = (pairs) => h('dl', null, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));

// diffLines is a line diff of a and b (longest common subsequence), as
// [op, line] pairs: ' ' kept, '-' only in a, '+' only in b.
export function diffLines(a, b) {
	const x = a.split('\n'), y = b.split('\n');
	const n = x.length, m = y.length;
	if (n * m > 4_000_000) return [...x.map((l) => ['-', l]), ...y.map((l) => ['+', l])];
	const L = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
	for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
	const out = [];
	let i = 0, j = 0;
	while (i < n && j < m) {
		if (x[i] === y[j]) { out.push([' ', x[i]]); i++; j++; }
		else if (L[i + 1][j] >= L[i][j + 1]) out.push(['-', x[i++]]);
		else out.push(['+', y[j++]]);
	}
	while (i < n) out.push(['-', x[i++]]);
	while (j < m) out.push(['+', y[j++]]);
	return out;
}

// diffView shows the changed lines of a → b with three lines of context
// around each change; the unchanged stretches between are folded.
export function diffView(a, b, context = 3) {
	const lines = diffLines(a, b);
	const near = lines.map(() => false);
	lines.forEach(([op], i) => {
		if (op === ' ') return;
		for (let j = Math.max(0, i - context); j <= Math.min(lines.length - 1, i + context); j++) near[j] = true;
	});
	const out = [];
	for (let i = 0; i < lines.length;) {
		if (near[i]) {
			const [op, l] = lines[i++];
			out.push(h('div', { class: op === '+' ? 'add' : op === '-' ? 'del' : null }, `${op} ${l}`));
			continue;
		}
		let j = i;
		while (j < lines.length && !near[j]) j++;
		out.push(h('div', { class: 'fold' }, `⋯ ${j - i} unchanged line${j - i === 1 ? '' : 's'}`));
		i = j;
	}
	return h('div', { class: 'diff', 'data-testid': 'diff' }, out);
}
