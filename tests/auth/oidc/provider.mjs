// A certified OpenID provider (panva's oidc-provider) for Tocsin's single sign-on tests.
// Configured from the environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI and USERS
// (JSON: {"<subject>": {"email", "name", "groups": [...]}}). Its development login form
// takes any password for a known subject. Tests change it between logins:
//   POST /test/groups/<subject>  body: JSON list   the person's groups from now on
//   POST /test/code-ttl          body: seconds     how long new authorization codes live
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const users = JSON.parse(process.env.USERS);
let codeTtl = 60;

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  async findAccount(ctx, id) {
    if (!users[id]) return undefined;
    return {
      accountId: id,
      async claims() {
        const user = users[id];
        return { sub: id, email: user.email, email_verified: true, name: user.name, groups: user.groups };
      },
    };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  pkce: { required: () => true },
  ttl: { AuthorizationCode: () => codeTtl, AccessToken: 600, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['tocsin-test-cookie-key'] },
});

function body(req) {
  return new Promise((resolve) => {
    let data = '';
    req.on('data', (chunk) => { data += chunk; });
    req.on('end', () => resolve(data));
  });
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url.startsWith('/test/groups/')) {
    const id = decodeURIComponent(req.url.slice('/test/groups/'.length));
    users[id].groups = JSON.parse(await body(req));
    res.writeHead(204).end();
  } else if (req.method === 'POST' && req.url === '/test/code-ttl') {
    codeTtl = Number(await body(req));
    res.writeHead(204).end();
  } else {
    callback(req, res);
  }
});
server.listen(port, '127.0.0.1', () => console.log(`READY ${issuer}`));
