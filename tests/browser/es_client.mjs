/*
 * A real EventSource client, the npm `eventsource` package as Node programs use it, for
 * tests/integration/test_positions.py; run by that test, not by hand.
 *
 *   node es_client.mjs '{"url": "http://127.0.0.1:PORT/api/events/stream?topic=T", "types": ["note"]}'
 *
 * Opens the one EventSource and lets it reconnect as it does by itself (it sends
 * Last-Event-ID from the last `id:` it saw). Prints one JSON line per observation:
 *   {"step":"open"}  {"step":"error","readyState":N}
 *   {"step":"event","type":T,"id":"42","data":"..."}   (for each type in cfg.types)
 * Exits when stdin closes (the test is done with it).
 */
import { EventSource } from 'eventsource';

const cfg = JSON.parse(process.argv[2] || '{}');
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const es = new EventSource(cfg.url);
es.onopen = () => emit({ step: 'open' });
es.onerror = () => emit({ step: 'error', readyState: es.readyState });
for (const type of cfg.types || ['message']) {
  es.addEventListener(type, (e) => emit({ step: 'event', type, id: e.lastEventId, data: e.data }));
}

process.stdin.on('data', () => {});
process.stdin.on('end', () => { es.close(); process.exit(0); });
