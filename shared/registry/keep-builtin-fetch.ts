/**
 * Imported before `undici` on purpose. Node's built-in fetch creates its dispatcher lazily, and the
 * undici package installs its own Agent as the process-wide dispatcher when none exists yet. Node 20's
 * fetch then runs on undici 7, which rejects requests that Node's own undici accepts (an explicit
 * `content-length` next to a Buffer body). Loading the built-in one first keeps global fetch as Node
 * ships it, so importing this client changes nothing for other code in the process.
 */
void globalThis.Response;
