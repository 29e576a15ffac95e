// A real OpenID Connect provider for the sign-in tests: panva's `oidc-provider` (certified by the
// OpenID Foundation), from node_modules, with its development login pages (any password; the login
// names the account). Usage: node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
// with OIDC_ACCOUNTS='{"login": {claims...}}' in the environment. Prints "listening" when ready.
import Provider from 'oidc-provider'

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2)
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || '{}')

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
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  async findAccount (ctx, id) {
    if (!accounts[id]) return undefined
    return { accountId: id, async claims () { return { sub: id, ...accounts[id] } } }
  },
})
provider.proxy = false
provider.listen(Number(port), '127.0.0.1', () => console.log('listening'))
