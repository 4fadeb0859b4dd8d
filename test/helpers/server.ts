// The real app listening on a local port, with its SMS worker running, for browser journeys.
import { createServer } from 'node:net';
import { createTestApp, type TestApp, type TestAppOptions } from './app.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface RunningServer extends TestApp {
  baseUrl: string;
}

/** `port`: listen here (e.g. one chosen earlier so a stand-in can be told the redirect URI first). */
export async function startTestServer(options: TestAppOptions & { port?: number } = {}): Promise<RunningServer> {
  const port = options.port ?? (await freePort());
  // localhost is a secure context for Chromium, so __Host- cookies work over plain HTTP in tests.
  const baseUrl = `http://localhost:${port}`;
  const testApp = await createTestApp({ ...options, config: { PUBLIC_BASE_URL: baseUrl, ...options.config } });
  const stopWorkers = await testApp.app.startWorkers();
  await testApp.app.listen({ port, host: '127.0.0.1' });
  return {
    ...testApp,
    baseUrl,
    async close() {
      await stopWorkers();
      await testApp.close();
    },
  };
}
