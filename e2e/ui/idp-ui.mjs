#!/usr/bin/env node
// An OpenID Connect provider for the admin UI's sign-in test
// (e2e/ui_test.go): oidc-provider on loopback with its development login
// and consent pages (any user name signs in), and one public client, the
// UI, using the authorization code flow with PKCE.
//
//   UI_REDIRECT_URI=http://127.0.0.1:PORT/ui/ node idp-ui.mjs
//
// It listens on a free 127.0.0.1 port and prints its issuer URL as the
// first line of stdout once it answers; it stops when its stdin ends, so
// that it does not outlive the test that started it.
//
// Access tokens are JWTs (RS256) for the resource urn:parley, audience
// "parley" (the default resource), with a "roles" claim: user "admin"
// has ["parley-admin"], anyone else none.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const redirect = process.env.UI_REDIRECT_URI;
if (!redirect) {
	console.error('idp-ui: set UI_REDIRECT_URI to the UI\'s address (http://127.0.0.1:PORT/ui/)');
	process.exit(2);
}
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `ui-${randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' };

const server = createServer();
server.listen(0, '127.0.0.1', () => {
	const issuer = `http://127.0.0.1:${server.address().port}`;
	const provider = new Provider(issuer, {
		clients: [{
			client_id: 'parley-ui',
			token_endpoint_auth_method: 'none',
			grant_types: ['authorization_code'],
			response_types: ['code'],
			redirect_uris: [redirect],
		}],
		jwks: { keys: [signingKey] },
		cookies: { keys: [randomBytes(32).toString('hex')] },
		pkce: { required: () => true },
		features: {
			devInteractions: { enabled: true },
			resourceIndicators: {
				enabled: true,
				defaultResource: async (_ctx, _client, oneOf) => oneOf ?? 'urn:parley',
				getResourceServerInfo: async (_ctx, resource) => {
					if (resource !== 'urn:parley') throw new Error(`unknown resource ${resource}`);
					return { audience: 'parley', scope: '', accessTokenFormat: 'jwt', accessTokenTTL: 600, jwt: { sign: { alg: 'RS256' } } };
				},
				useGrantedResource: async () => true,
			},
		},
		extraTokenClaims: async (_ctx, token) => (token.accountId === 'admin' ? { roles: ['parley-admin'] } : undefined),
	});
	provider.on('server_error', (_ctx, err) => console.error(`idp-ui: server error: ${err.stack ?? err}`));
	provider.on('grant.error', (_ctx, err) => console.error(`idp-ui: grant error: ${err.message} ${err.error_description ?? ''}`));
	provider.on('authorization.error', (_ctx, err) => console.error(`idp-ui: authorization error: ${err.message} ${err.error_description ?? ''}`));
	provider.on('grant.success', (ctx) => console.error(`idp-ui: issued a token to ${ctx.oidc.entities.Account?.accountId ?? '?'}`));
	server.on('request', provider.callback());
	console.log(issuer);
});
const stop = () => { server.close(); server.closeAllConnections?.(); process.exit(0); };
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
