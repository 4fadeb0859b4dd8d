// Starts the local NHS login stand-in when the configuration asks for it (development or tests with no
// NHS_LOGIN_ISSUER). server.ts calls this once at start-up; it returns undefined when NHS login is off
// or points at a real provider.
import type { Config } from '../../../config/config.ts';
import { nhsLoginPublicJwk } from '../nhs-login.client.ts';
import { startNhsLoginStandIn, type StandIn } from './stand-in-provider.ts';

export async function startNhsLoginStandInIfConfigured(config: Config): Promise<StandIn | undefined> {
  const settings = config.nhsLogin;
  if (!settings?.standIn || config.isProduction) return undefined;
  return startNhsLoginStandIn({
    port: settings.standIn.port,
    host: new URL(settings.issuer).hostname,
    issuer: settings.issuer,
    clientId: settings.clientId,
    clientJwks: [nhsLoginPublicJwk(settings.privateJwk)],
    redirectUris: [settings.redirectUri],
  });
}
