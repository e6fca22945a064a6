// Sign-in with OpenID Connect: the authorization code flow with PKCE
// (RFC 7636), as a public client. The verifier and state wait in
// sessionStorage across the redirect to the issuer and back; the access
// token is kept in memory only.

const KEY = 'parley.ui.signin';

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));

async function discover(issuer) {
	const res = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
	if (!res.ok) throw new Error(`the issuer's discovery document answered ${res.status}`);
	return res.json();
}

const redirectURI = () => `${location.origin}/ui/`;

// signIn sends the browser to the issuer.
export async function signIn(cfg) {
	const meta = await discover(cfg.issuer);
	const verifier = random(32);
	const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
	const state = random(16);
	sessionStorage.setItem(KEY, JSON.stringify({ verifier, state, hash: location.hash }));
	const q = new URLSearchParams({
		response_type: 'code', client_id: cfg.client_id, redirect_uri: redirectURI(), scope: (cfg.scopes ?? ['openid']).join(' '),
		state, code_challenge: challenge, code_challenge_method: 'S256',
	});
	if (cfg.resource) q.set('resource', cfg.resource);
	location.assign(`${meta.authorization_endpoint}?${q}`);
}

// completeSignIn finishes a sign-in if the issuer just sent the browser
// back: it returns the access token, or null when there is no answer to
// complete. The code and state leave the address bar either way.
export async function completeSignIn(cfg) {
	const q = new URLSearchParams(location.search);
	if (!q.has('code') && !q.has('error')) return null;
	const saved = JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
	sessionStorage.removeItem(KEY);
	history.replaceState(null, '', `${location.pathname}${saved?.hash ?? ''}`);
	if (q.has('error')) throw new Error(`the issuer refused the sign-in: ${q.get('error_description') ?? q.get('error')}`);
	if (!saved || saved.state !== q.get('state')) throw new Error('the sign-in answer does not match a sign-in started here; sign in again');
	const meta = await discover(cfg.issuer);
	const body = new URLSearchParams({
		grant_type: 'authorization_code', code: q.get('code'), redirect_uri: redirectURI(), client_id: cfg.client_id, code_verifier: saved.verifier,
	});
	if (cfg.resource) body.set('resource', cfg.resource);
	const res = await fetch(meta.token_endpoint, { method: 'POST', body, headers: { Accept: 'application/json' } });
	const tok = await res.json().catch(() => ({}));
	if (!res.ok || !tok.access_token) throw new Error(`the token exchange failed: ${tok.error_description ?? tok.error ?? res.status}`);
	return tok;
}

// claims reads a JWT's payload, for showing who is signed in (the
// gateway verifies the token; the page only displays it).
export function claims(jwt) {
	try {
		const p = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
		return JSON.parse(atob(p + '='.repeat((4 - (p.length % 4)) % 4)));
	} catch { return {}; }
}
