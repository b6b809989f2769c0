/** The wg-quick .conf format: parse, serialise, and turn into a UAPI request. */
export { parseConf, parseEndpoint, formatConfError, isHostname, MAX_CONF_BYTES } from './parse.js';
export { serialiseConf, serialiseSetconf, formatEndpoint } from './serialise.js';
export { toUapiSetRequest, endpointHostnames, type ToUapiResult } from './to-uapi.js';
export type { TunnelConfig, TunnelInterface, TunnelPeer, TunnelEndpoint, ConfError, ConfParseResult } from './types.js';
export { lintConf, type ConfWarning, type LintContext } from './lint.js';
