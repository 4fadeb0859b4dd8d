// Issue 13: 20 parallel uploads of 10 MB keep the server's memory growth under 100 MB. The same
// measurement as `node bench/upload-memory.ts` (the real server as a child process, its RSS sampled
// while the uploads stream in), run once. Memory, unlike time, is asserted: a file held whole in memory
// anywhere on the intake path costs 10 MB an upload and breaks the bound at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureUploadMemory } from '../../bench/upload-memory.ts';
import { testDatabaseUrl } from '../helpers/database.ts';

const MB = 1_000_000;
const MIB = 1024 * 1024;

test('20 parallel 10 MB document uploads: all taken, server memory grows by under 100 MB', { timeout: 600_000 }, async (t) => {
  const result = await measureUploadMemory({ databaseUrl: testDatabaseUrl, uploads: 20, maxMib: 10 });
  t.diagnostic(
    `${result.database}: RSS before ${result.baselineMib.toFixed(1)} MiB, peak ${result.peakMib.toFixed(1)} MiB, growth ${result.growthMib.toFixed(1)} MiB over ${result.samples} samples`,
  );
  assert.deepEqual(result.statuses, Array.from({ length: 20 }, () => 303), 'every upload is taken and the document sent');
  assert.ok(result.fileBytes > 10 * MB, 'each file is over 10 MB (just under 10 MiB, the default DOCUMENT_MAX_MB)');
  assert.ok(result.samples > 0, 'the server was sampled while the uploads ran');
  assert.ok(result.growthMib * MIB < 100 * MB, `server RSS grew by ${result.growthMib.toFixed(1)} MiB`);
});
