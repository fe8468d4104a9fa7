// oidc-provider's configuration for the interop tests (provider.js adds the issuer, the
// keys and the storage). Kept to what the tests use; names match conftest.py.

import { errors } from 'oidc-provider';

// RFC 8707 resources. A resource indicator may carry a query (RFC 8707 §2 allows one):
// ?alg=PS256 picks the signing algorithm, ?ttl=2 the lifetime in seconds, ?format=opaque an
// opaque token. The audience stays the resource without its query, so one verifier
// configured for https://payments.example/api sees every variant.
const RESOURCES = {
  'https://payments.example/api': 'payments.create payments.get payments.user-instructions.get',
  'https://ledger.example/api': 'ledger.read ledger.write',
};

function resourceServerInfo(ctx, indicator) {
  const url = new URL(indicator);
  const audience = `${url.origin}${url.pathname}`;
  const scope = RESOURCES[audience];
  if (!scope) throw new errors.InvalidTarget();
  const alg = url.searchParams.get('alg') ?? 'RS256';
  const ttl = url.searchParams.get('ttl');
  const format = url.searchParams.get('format') ?? 'jwt';
  return {
    scope,
    audience,
    accessTokenFormat: format,
    ...(ttl ? { accessTokenTTL: Number(ttl) } : {}),
    ...(format === 'jwt' ? { jwt: { sign: { alg } } } : {}),
  };
}

export const configuration = {
  clients: [
    {
      // The merchant dashboard's back end: client credentials, and CIBA (poll) for the
      // ID token of the "an ID token is no access token" tests.
      client_id: 'payments-dashboard',
      client_secret: 'dashboard-secret-for-the-interop-tests',
      grant_types: ['client_credentials', 'urn:openid:params:grant-type:ciba'],
      response_types: [],
      redirect_uris: [],
      backchannel_token_delivery_mode: 'poll',
    },
    {
      // The payments API itself, as a resource server: it introspects (RFC 7662).
      client_id: 'payments-api',
      client_secret: 'payments-api-secret-for-the-interop-tests',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  async findAccount(ctx, sub) {
    return { accountId: sub, async claims() { return { sub }; } };
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    // DPoP (RFC 9449) is on by default; a proof at the token endpoint binds the token.
    dPoP: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async defaultResource() { return undefined; },
      async getResourceServerInfo(ctx, indicator) { return resourceServerInfo(ctx, indicator); },
      async useGrantedResource() { return false; },
    },
    // CIBA is the plainest way to a real ID token without a browser: the "authentication
    // device" approves alice at once.
    ciba: {
      enabled: true,
      deliveryModes: ['poll'],
      async processLoginHint(ctx, loginHint) { return loginHint; },
      async processLoginHintToken() { return undefined; },
      async validateRequestContext() {},
      async verifyUserCode() {},
      async triggerAuthenticationDevice(ctx, request, account, client) {
        const { provider } = ctx.oidc;
        const grant = new provider.Grant({ clientId: client.clientId, accountId: account.accountId });
        grant.addOIDCScope('openid');
        await grant.save();
        await provider.backchannelResult(request, grant);
      },
    },
  },
  enabledJWA: {
    // The signing algorithms of the tests' resources.
    idTokenSigningAlgValues: ['RS256', 'PS256', 'ES256', 'Ed25519', 'EdDSA'],
  },
};
