// The ceilings the scenarios are compared with: a bare Fastify route doing one indexed SELECT (read)
// and one doing one single-row INSERT (write), on a pool the same size as the app's, on the same
// database. Run as its own process so it gets a core of its own like the app does.
import Fastify from 'fastify';
import pg from 'pg';

const url = process.env.DATABASE_URL!;
const port = Number(process.env.PORT);
const pool = new pg.Pool({ connectionString: url, max: Number(process.env.DATABASE_POOL_SIZE ?? 20) });
await pool.query(`CREATE TABLE IF NOT EXISTS bench_ceiling (id bigserial PRIMARY KEY, token_hash text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
const hashes = (await pool.query<{ token_hash: string }>('SELECT token_hash FROM links LIMIT 1000')).rows.map((r) => r.token_hash);

const app = Fastify({ logger: false });
let i = 0;
app.get('/read', async () => {
  const { rows } = await pool.query('SELECT id, expires_at FROM links WHERE token_hash = $1', [hashes[i++ % hashes.length]]);
  return { found: rows.length };
});
app.post('/write', async () => {
  await pool.query('INSERT INTO bench_ceiling (token_hash) VALUES ($1)', [hashes[i++ % hashes.length]]);
  return { ok: true };
});
await app.listen({ port, host: '127.0.0.1' });
process.stdout.write('ready\n');
process.on('SIGTERM', async () => {
  await app.close();
  await pool.end();
  process.exit(0);
});
