// A real OpenID Connect provider for the sign-in tests: panva's `oidc-provider` (certified by the
// OpenID Foundation), from node_modules, with its development login pages (any password; the login
// names the account). Usage: node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
// with OIDC_ACCOUNTS='{"login": {claims...}}' in the environment. Prints "listening" when ready.
// With OIDC_ACCESS_TOKEN_AUDIENCE set, access tokens asking for the `codec` scope are JWTs for that
// audience (lasting OIDC_ACCESS_TOKEN_TTL seconds, default 3600) that carry the account's name and
// roles, as Microsoft Entra ID's access tokens for an API do: what the Temporal UI passes to /codec.
import Provider from 'oidc-provider'

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2)
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || '{}')
const audience = process.env.OIDC_ACCESS_TOKEN_AUDIENCE
const codecResource = 'urn:casework:codec'
const resourceIndicators = {
  enabled: true,
  defaultResource: async () => codecResource,
  useGrantedResource: async () => true,
  getResourceServerInfo: async () => ({
    scope: 'codec',
    audience,
    accessTokenTTL: Number(process.env.OIDC_ACCESS_TOKEN_TTL || 3600),
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  }),
}

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'roles', 'school_urns'],
    email: ['email'],
  },
  conformIdTokenClaims: false,
  cookies: { keys: ['casework-test-provider-cookie-key'] },
  features: { devInteractions: { enabled: true }, ...(audience ? { resourceIndicators } : {}) },
  async extraTokenClaims (ctx, token) {
    if (token.kind !== 'AccessToken' || !accounts[token.accountId]) return undefined
    const { name, preferred_username, roles, school_urns } = accounts[token.accountId]
    return { name, preferred_username, roles, school_urns }
  },
  pkce: { required: () => true },
  async findAccount (ctx, id) {
    if (!accounts[id]) return undefined
    return { accountId: id, async claims () { return { sub: id, ...accounts[id] } } }
  },
})
provider.proxy = false
provider.listen(Number(port), '127.0.0.1', () => console.log('listening'))
