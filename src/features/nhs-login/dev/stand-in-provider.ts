// A local stand-in for NHS login, for development and tests only: a real OpenID Provider (oidc-provider
// 9) that speaks the same protocol as NHS login — private_key_jwt client authentication and ID tokens
// signed with RS512, PKCE required, the `vtr` parameter, NHS-login-shaped claims (nhs_number,
// birthdate, identity_proofing_level, family_name, vot) — with a plain sign-in page that lists test
// identities instead of asking for a password. It refuses to start in production.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { interactionPolicy, type Adapter, type AdapterPayload, type Configuration } from 'oidc-provider';
import type { JWK } from 'jose';
import { DEMO_PATIENTS } from '../../../dev/demo-data.ts';

export interface StandInIdentity {
  /** The `sub` NHS login would give this person (stable across restarts). */
  sub: string;
  label: string;
  givenName: string;
  familyName: string;
  nhsNumber: string;
  /** YYYY-MM-DD. */
  birthdate: string;
  identityProofingLevel: 'P0' | 'P5' | 'P9';
  /**
   * The ID token's `vot`. Default `<identityProofingLevel>.Cp.Cd`; null leaves the claim out (tests of
   * a provider that does not say what it checked).
   */
  vot?: string | null;
}

/** A stable UUID-shaped identifier from a seed, so a test identity keeps its `sub`. */
function stableSub(seed: string): string {
  const h = createHash('sha256').update(`dovecote-nhs-login-stand-in:${seed}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** NHS number in the 999 test range (valid check digit) that belongs to no demo patient. */
export const UNMATCHED_NHS_NUMBER = '9990000069';

/** Each demo patient at P9, Tom Evans also at P5, and one person who matches no patient. */
export function defaultStandInIdentities(): StandInIdentity[] {
  const p9 = DEMO_PATIENTS.map((p) => ({
    sub: stableSub(`${p.nhsNumber}:P9`),
    label: `${p.givenName} ${p.familyName} — P9 (NHS number matches a demo patient)`,
    givenName: p.givenName,
    familyName: p.familyName,
    nhsNumber: p.nhsNumber,
    birthdate: p.dateOfBirth,
    identityProofingLevel: 'P9' as const,
  }));
  const tom = DEMO_PATIENTS.find((p) => p.givenName === 'Tom') ?? DEMO_PATIENTS[0]!;
  return [
    ...p9,
    {
      sub: stableSub(`${tom.nhsNumber}:P5`),
      label: `${tom.givenName} ${tom.familyName} — P5 (NHS number matches a demo patient, identity not fully checked)`,
      givenName: tom.givenName,
      familyName: tom.familyName,
      nhsNumber: tom.nhsNumber,
      birthdate: tom.dateOfBirth,
      identityProofingLevel: 'P5',
    },
    {
      sub: stableSub(`${UNMATCHED_NHS_NUMBER}:P9`),
      label: 'Sam Taylor — P9 (NHS number matches no patient)',
      givenName: 'Sam',
      familyName: 'Taylor',
      nhsNumber: UNMATCHED_NHS_NUMBER,
      birthdate: '1990-02-14',
      identityProofingLevel: 'P9',
    },
  ];
}

export interface StandInOptions {
  /** 0 picks a free port (tests). */
  port: number;
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** Default `http://<host>:<port>` with the port actually bound. Must match the client's NHS_LOGIN_ISSUER exactly. */
  issuer?: string;
  clientId: string;
  /** The client's public keys (its private_key_jwt assertions are checked against these). */
  clientJwks: JWK[];
  redirectUris: string[];
  identities?: StandInIdentity[];
}

export interface StandIn {
  issuer: string;
  identities: StandInIdentity[];
  close(): Promise<void>;
}

/** A Map with expiry per instance: no shared state between stand-ins, and no in-memory-adapter warning. */
function memoryAdapterFactory(): (name: string) => Adapter {
  const store = new Map<string, { payload: AdapterPayload; expiresAt: number }>();
  const get = (key: string) => {
    const hit = store.get(key);
    if (!hit) return undefined;
    if (hit.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return hit.payload;
  };
  return (model: string): Adapter => {
    const key = (id: string) => `${model}:${id}`;
    return {
      async upsert(id, payload, expiresIn) {
        store.set(key(id), { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
      },
      async find(id) {
        return get(key(id));
      },
      async findByUserCode(userCode) {
        for (const [k] of store) {
          const p = k.startsWith(`${model}:`) ? get(k) : undefined;
          if (p?.userCode === userCode) return p;
        }
        return undefined;
      },
      async findByUid(uid) {
        for (const [k] of store) {
          const p = k.startsWith(`${model}:`) ? get(k) : undefined;
          if (p?.uid === uid) return p;
        }
        return undefined;
      },
      async consume(id) {
        const p = get(key(id));
        if (p) p.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        store.delete(key(id));
      },
      async revokeByGrantId(grantId) {
        for (const [k, v] of store) if (v.payload.grantId === grantId) store.delete(k);
      },
    };
  };
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} – NHS login stand-in</title>
</head>
<body>
<header><p><strong>NHS login stand-in</strong> — for development and testing only. This is not the real NHS login.</p></header>
<main id="main-content">
${body}
</main>
</body>
</html>`;
}

function signInPage(uid: string, identities: StandInIdentity[], vtr: string | undefined, error?: string): string {
  const options = identities
    .map(
      (identity, i) => `<div>
<input type="radio" id="identity-${i}" name="identity" value="${escapeHtml(identity.sub)}" required>
<label for="identity-${i}">${escapeHtml(identity.label)}</label>
</div>`,
    )
    .join('\n');
  return page(
    error ? 'Error: Choose a test identity' : 'Choose a test identity',
    `${error ? `<div role="alert"><h2>There is a problem</h2><p><a href="#identity-0">${escapeHtml(error)}</a></p></div>` : ''}
<h1>Choose a test identity</h1>
<p>Pick who to log in as. No password is needed.</p>
${vtr ? `<p>The service asked for these vectors of trust: <code>${escapeHtml(vtr)}</code></p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}" novalidate>
<fieldset>
<legend>Test identities</legend>
${options}
</fieldset>
<p><button type="submit" name="action" value="sign-in">Continue</button></p>
<p><button type="submit" name="action" value="cancel" formnovalidate>Cancel</button></p>
</form>`,
  );
}

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 16_384) throw new Error('form too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; form-action 'self' http: https:; frame-ancestors 'none'",
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

function send(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS });
  res.end(html);
}

export async function startNhsLoginStandIn(options: StandInOptions): Promise<StandIn> {
  if (process.env.NODE_ENV === 'production') {
    throw new Error('The NHS login stand-in never runs in production');
  }
  const identities = options.identities ?? defaultStandInIdentities();
  const bySub = new Map(identities.map((i) => [i.sub, i]));
  const host = options.host ?? '127.0.0.1';

  let handler: http.RequestListener = (_req, res) => send(res, 503, page('Starting', '<h1>Starting</h1>'));
  const server = http.createServer((req, res) => handler(req, res));
  // Longer than fetch's idle keep-alive (4 s), so a client never reuses a socket the server just closed.
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = options.issuer ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

  // Always show the identity page, even when the browser still has a stand-in session: testers switch
  // identities often, and a real NHS login round trip asks again after its own session ends.
  const policy = interactionPolicy.base();
  policy
    .get('login')
    ?.checks.add(
      new interactionPolicy.Check('choose_identity', 'the stand-in always asks which test identity to use', (ctx) =>
        ctx.oidc.result?.login ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT,
      ),
    );

  const configuration: Configuration = {
    adapter: memoryAdapterFactory(),
    clients: [
      {
        client_id: options.clientId,
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'RS512',
        id_token_signed_response_alg: 'RS512',
        jwks: { keys: options.clientJwks.map((k) => ({ ...k, use: 'sig' })) as never },
        redirect_uris: options.redirectUris,
        response_types: ['code'],
        grant_types: ['authorization_code'],
      },
    ],
    jwks: { keys: [{ ...signingKey, kid: 'stand-in-1', alg: 'RS512', use: 'sig' }] as never },
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS512'],
      idTokenSigningAlgValues: ['RS512'],
    },
    responseTypes: ['code'],
    pkce: { required: () => true },
    extraParams: ['vtr'],
    // NHS login puts its trust claims in the ID token; the profile claims come with the profile scope.
    claims: {
      openid: ['sub', 'identity_proofing_level', 'vot', 'vtm'],
      profile: ['nhs_number', 'birthdate', 'family_name', 'given_name'],
    },
    conformIdTokenClaims: false,
    findAccount: (_ctx, sub) => {
      const identity = bySub.get(sub);
      if (!identity) return undefined;
      return {
        accountId: sub,
        claims: () => ({
          sub,
          nhs_number: identity.nhsNumber,
          birthdate: identity.birthdate,
          family_name: identity.familyName,
          given_name: identity.givenName,
          identity_proofing_level: identity.identityProofingLevel,
          ...(identity.vot === null ? {} : { vot: identity.vot ?? `${identity.identityProofingLevel}.Cp.Cd` }),
          vtm: `${issuer}/trustmark/${new URL(issuer).host}`,
        }),
      };
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: false },
    },
    interactions: {
      policy,
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
      Interaction: 900,
      Session: 3600,
      Grant: 3600,
    },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.set(SECURITY_HEADERS);
      ctx.body = page(
        'Something went wrong',
        `<h1>Something went wrong</h1><p><code>${escapeHtml(out.error)}</code>: ${escapeHtml(out.error_description ?? '')}</p>`,
      );
    },
  };

  const provider = new Provider(issuer, configuration);
  const providerCallback = provider.callback();

  async function interaction(req: http.IncomingMessage, res: http.ServerResponse, uid: string): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) return send(res, 400, page('Something went wrong', '<h1>This sign-in has expired</h1>'));
    const vtr = typeof details.params.vtr === 'string' ? details.params.vtr : undefined;
    if (req.method === 'GET') return send(res, 200, signInPage(uid, identities, vtr));
    if (req.method !== 'POST') return send(res, 405, page('Not allowed', '<h1>Not allowed</h1>'));

    const form = await readForm(req);
    if (form.get('action') === 'cancel') {
      return provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User cancelled the sign-in' },
        { mergeWithLastSubmission: false },
      );
    }
    const identity = bySub.get(form.get('identity') ?? '');
    if (!identity) return send(res, 400, signInPage(uid, identities, vtr, 'Choose a test identity'));

    // Forget any earlier stand-in sign-in in this browser, so choosing someone else just works.
    // (As oidc-provider itself does before its log-out prompt: unlink the interaction from the old session.)
    if (details.session?.uid) {
      const previous = await provider.Session.findByUid(details.session.uid);
      Reflect.deleteProperty(details.session, 'uid');
      await details.save(Math.max(1, (details.exp ?? 0) - Math.floor(Date.now() / 1000)));
      await previous?.destroy();
    }

    // Consent is granted at once: every scope the client asked for.
    const grant = new provider.Grant({ accountId: identity.sub, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope ?? 'openid'));
    const grantId = await grant.save();
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId: identity.sub, remember: false }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  }

  handler = (req, res) => {
    const match = /^\/interaction\/([A-Za-z0-9_-]+)\/?$/.exec(new URL(req.url ?? '/', issuer).pathname);
    if (!match) return void providerCallback(req, res);
    interaction(req, res, match[1]!).catch((error: unknown) => {
      const expired = error instanceof Error && error.name === 'SessionNotFound';
      if (!res.headersSent) {
        send(
          res,
          expired ? 400 : 500,
          page('Something went wrong', `<h1>${expired ? 'This sign-in has expired. Go back to the service and start again' : 'Something went wrong'}</h1>`),
        );
      }
    });
  };

  return {
    issuer,
    identities,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
