#!/usr/bin/env node
// A real OpenID Connect provider for the e2e tests (e2e/auth_idp_test.go):
// oidc-provider on loopback, issuing JWT access tokens with the OAuth 2
// client credentials grant.
//
//   node idp.mjs [--until-stdin-closes] [port]
//
// It listens on 127.0.0.1:<port> (default 0: a free port) and prints its
// issuer URL (http://127.0.0.1:<port>) as the first line of stdout once it
// answers; discovery is at <issuer>/.well-known/openid-configuration. It
// stops on SIGTERM or SIGINT and, with --until-stdin-closes, when its stdin
// ends (so that it does not outlive the test that started it, even one
// that was killed).
//
// Clients (client_secret_basic or client_secret_post, grant
// client_credentials only), secrets from the environment:
//
//   support         IDP_SUPPORT_SECRET         roles: ["support"]
//   admin           IDP_ADMIN_SECRET           roles: ["parley-admin"]
//   viewer          IDP_VIEWER_SECRET          roles: ["viewer"]
//   parley-gateway  IDP_PARLEY_GATEWAY_SECRET  no roles: Parley's own client,
//                                              for its calls to agents
//
// A client without its variable gets no secret and cannot get tokens. The
// roles are a custom "roles" claim (extraTokenClaims) in tokens for Parley.
//
// Resources (RFC 8707 resource indicators); every token is a JWT (RS256,
// typ at+jwt) for one resource:
//
//   urn:parley         aud "parley"         Parley's own API (MCP, A2A,
//                                           admin); the default resource
//   urn:parley:agents  aud "parley-agents"  the agents Parley calls; only
//                                           parley-gateway may ask for it
//
// Each token issued (or refused) is logged on stderr: client, resource.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

const args = process.argv.slice(2);
const untilStdinCloses = args[0] === '--until-stdin-closes';
if (untilStdinCloses) args.shift();
const portArg = args[0] ?? '0';
const port = Number(portArg);
if (args.length > 1 || !/^\d+$/.test(portArg) || port > 65535) {
	console.error(`usage: node idp.mjs [--until-stdin-closes] [port]  (got ${JSON.stringify(process.argv.slice(2))})`);
	process.exit(2);
}

// The resources this IdP issues tokens for, by resource indicator.
const RESOURCES = {
	'urn:parley': { audience: 'parley', clients: null }, // any client
	'urn:parley:agents': { audience: 'parley-agents', clients: ['parley-gateway'] },
};
const DEFAULT_RESOURCE = 'urn:parley';

// The clients, their secrets' variables and the roles put in their tokens.
const CLIENTS = {
	support: { secretEnv: 'IDP_SUPPORT_SECRET', roles: ['support'] },
	admin: { secretEnv: 'IDP_ADMIN_SECRET', roles: ['parley-admin'] },
	viewer: { secretEnv: 'IDP_VIEWER_SECRET', roles: ['viewer'] },
	'parley-gateway': { secretEnv: 'IDP_PARLEY_GATEWAY_SECRET', roles: [] },
};

// A fresh signing key per run: nothing outside this process can sign.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `e2e-${randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' };

const clients = Object.entries(CLIENTS).map(([id, c]) => ({
	client_id: id,
	// No variable: a secret nobody knows, so that the client exists but
	// cannot get a token.
	client_secret: process.env[c.secretEnv] || randomBytes(32).toString('hex'),
	grant_types: ['client_credentials'],
	response_types: [],
	redirect_uris: [],
	token_endpoint_auth_method: 'client_secret_basic',
}));

const server = createServer();
server.on('error', (err) => {
	console.error(`idp: ${err.message}`);
	process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
	const issuer = `http://127.0.0.1:${server.address().port}`;
	const provider = new Provider(issuer, {
		clients,
		// Both client authentication methods the OAuth 2 libraries use.
		clientDefaults: { token_endpoint_auth_method: 'client_secret_basic' },
		clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
		jwks: { keys: [signingKey] },
		cookies: { keys: [randomBytes(32).toString('hex')] },
		features: {
			devInteractions: { enabled: false },
			clientCredentials: { enabled: true },
			introspection: { enabled: false },
			revocation: { enabled: false },
			resourceIndicators: {
				enabled: true,
				// A token request without a resource parameter gets a token
				// for Parley.
				defaultResource: async (_ctx, _client, oneOf) => oneOf ?? DEFAULT_RESOURCE,
				getResourceServerInfo: async (_ctx, resource, client) => {
					const r = RESOURCES[resource];
					if (!r || (r.clients && !r.clients.includes(client.clientId))) {
						throw new errors.InvalidTarget(`client ${client.clientId} may not get tokens for ${resource}`);
					}
					return {
						audience: r.audience,
						scope: '',
						accessTokenFormat: 'jwt',
						accessTokenTTL: 600,
						jwt: { sign: { alg: 'RS256' } },
					};
				},
				useGrantedResource: async () => true,
			},
		},
		// The caller's roles, in tokens for Parley only.
		extraTokenClaims: async (_ctx, token) => {
			if (token.kind !== 'ClientCredentials' || token.resourceServer?.audience !== 'parley') return undefined;
			const roles = CLIENTS[token.clientId]?.roles ?? [];
			return roles.length > 0 ? { roles } : undefined;
		},
	});
	provider.on('grant.success', (ctx) => {
		const c = ctx.oidc.entities.ClientCredentials;
		console.error(`idp: issued a token to ${ctx.oidc.client?.clientId} for ${c?.resourceServer?.identifier?.() ?? '(no resource)'} (aud ${c?.resourceServer?.audience ?? '-'})`);
	});
	provider.on('grant.error', (ctx, err) => {
		console.error(`idp: refused a token to ${ctx.oidc?.client?.clientId ?? '(unknown client)'}: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}`);
	});
	provider.on('server_error', (_ctx, err) => console.error(`idp: server error: ${err.stack ?? err}`));
	server.on('request', provider.callback());
	console.log(issuer);
});

function stop() {
	server.close();
	server.closeAllConnections();
	process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (untilStdinCloses) {
	// The test holds stdin open; when it ends (the test finished or died),
	// stop.
	process.stdin.on('end', stop);
	process.stdin.on('error', stop);
	process.stdin.resume();
}
