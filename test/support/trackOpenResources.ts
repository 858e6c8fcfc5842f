import pg from 'pg';
import WebSocket from 'ws';
import { opened, postgresConnection } from './openResources';
import { closeInstancesOfTest, testStarts } from './instance';

// Every PostgreSQL connection this file makes, the server's own pools included, from connect() to its end.
const connect = pg.Client.prototype.connect as (...args: unknown[]) => unknown;
pg.Client.prototype.connect = function trackedConnect(this: pg.Client, ...args: unknown[]) {
  const { application_name: name, database } = (this as unknown as { connectionParameters: { application_name?: string; database?: string } }).connectionParameters;
  // The client's 'end' listeners may be removed by the code that owns it (the listener does); its own flag is not.
  const ended = () => (this as unknown as { _ended?: boolean })._ended === true;
  this.once(
    'end',
    opened(this, postgresConnection(database ?? '', name ? `(${name})` : 'of the test'), () => !ended()),
  );
  return connect.apply(this, args);
} as typeof pg.Client.prototype.connect;

// Every WebSocket, either end, from the moment it has a socket until it is closed.
const prototype = WebSocket.prototype as unknown as { setSocket: (...args: unknown[]) => unknown; _isServer: boolean };
const setSocket = prototype.setSocket;
prototype.setSocket = function trackedSetSocket(this: WebSocket & { _isServer: boolean }, ...args: unknown[]) {
  this.once(
    'close',
    opened(this, this._isServer ? "a server's WebSocket" : 'a WebSocket client', () => this.readyState !== WebSocket.CLOSED),
  );
  return setSocket.apply(this, args);
};

// Instances a test (or its beforeEach) started for itself end with it, whether it passed or not. These
// hooks are declared before any file's own, so they run first.
beforeEach(() => testStarts());
afterEach(() => closeInstancesOfTest());
