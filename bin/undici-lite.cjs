// What the CLI bundle takes from undici, in place of undici's index (bin/bundle.js aliases `undici`
// to this file). The index loads every part of undici at start-up (fetch, WebSocket, EventSource,
// cookies, caches, mocks): about 30 ms of a warm run's CPU for code a migration never calls. The
// registry transport uses Agent, EnvHttpProxyAgent, buildConnector and the Dispatcher's request API.
'use strict';
const Dispatcher = require('undici/lib/dispatcher/dispatcher');
Object.assign(Dispatcher.prototype, require('undici/lib/api'));
module.exports = {
  Agent: require('undici/lib/dispatcher/agent'),
  EnvHttpProxyAgent: require('undici/lib/dispatcher/env-http-proxy-agent'),
  buildConnector: require('undici/lib/core/connect'),
  Dispatcher,
};
