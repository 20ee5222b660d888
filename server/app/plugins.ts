// Every known integration, started after the portal's core services and stopped before Redis
// closes. Each factory returns undefined when its configuration is absent.
import type { PluginContext, PluginFactory, PortalPlugin } from '../plugins/contract.ts';
import { chatPluginFactory } from '../chat/plugin.ts';
import { siemPluginFactory } from '../siem/plugin.ts';

export const PLUGINS: PluginFactory[] = [chatPluginFactory(), siemPluginFactory()];

export async function startPlugins(ctx: PluginContext): Promise<PortalPlugin[]> {
  const started: PortalPlugin[] = [];
  for (const factory of PLUGINS) {
    const plugin = await factory(ctx);
    if (plugin !== undefined) {
      ctx.log.info({ plugin: plugin.name }, 'integration started');
      started.push(plugin);
    }
  }
  return started;
}
