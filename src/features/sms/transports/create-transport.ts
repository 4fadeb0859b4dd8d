// Picks the transport the configuration names. Production can only ever get Notify: the config refuses
// SMS_PROVIDER=development there, and this refuses it again.
import type { Services } from '../../../services.ts';
import { createDevelopmentTransport } from './development.transport.ts';
import { createNotifyTransport } from './notify.transport.ts';
import type { SmsTransport } from './sms-transport.ts';

export function createSmsTransport(services: Services, options: { notifyTimeoutMs?: number } = {}): SmsTransport {
  const { config } = services;
  if (config.sms.provider === 'notify') {
    const notify = config.sms.notify;
    if (!notify) throw new Error('SMS_PROVIDER=notify without Notify settings');
    return createNotifyTransport({ ...notify, timeoutMs: options.notifyTimeoutMs });
  }
  if (config.isProduction) throw new Error('The development SMS transport cannot run in production');
  return createDevelopmentTransport(services.db);
}
