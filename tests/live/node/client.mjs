// A Node client of the apigee plugin, as an integrator would write one with simple-oauth2.
// Usage: node client.mjs '<json config>'; prints one JSON object with what happened.
// Config: tokenHost, tokenPath, refreshPath, clientId, clientSecret, authorizationMethod
// ("header" | "body"), scope (optional), apiUrl (optional: called with the token, the way
// many RFC clients build the header: `${token_type} ${access_token}`), refresh (boolean).
import { ClientCredentials } from 'simple-oauth2';

const config = JSON.parse(process.argv[2]);
const out = {};

function describe(error) {
  const payload = error?.data?.payload;
  return {
    message: error.message,
    status: error?.output?.statusCode ?? null,
    payload: Buffer.isBuffer(payload) ? payload.toString() : payload ?? null,
  };
}

try {
  const client = new ClientCredentials({
    client: { id: config.clientId, secret: config.clientSecret },
    auth: { tokenHost: config.tokenHost, tokenPath: config.tokenPath, refreshPath: config.refreshPath },
    options: { authorizationMethod: config.authorizationMethod ?? 'header' },
  });
  const params = config.scope ? { scope: config.scope } : {};
  const accessToken = await client.getToken(params);
  out.token = accessToken.token;
  out.expiresAtMs = accessToken.token.expires_at.getTime();
  out.nowMs = Date.now();
  out.expired = accessToken.expired();
  if (config.apiUrl) {
    const { token_type: type, access_token: value } = accessToken.token;
    const response = await fetch(config.apiUrl, { headers: { Authorization: `${type} ${value}` } });
    out.api = { status: response.status, body: await response.text(),
                wwwAuthenticate: response.headers.get('www-authenticate') };
  }
  if (config.refresh) {
    const refreshed = await accessToken.refresh();
    out.refreshed = refreshed.token;
  }
} catch (error) {
  out.error = describe(error);
}
console.log(JSON.stringify(out));
