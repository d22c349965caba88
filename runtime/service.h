/*
** runtime/service.h: supervision of process.service entries (spec 1.3, 1.4):
** auto-start in dependency order, restart with backoff on an error exit,
** none on a clean exit, cancel in reverse order at shutdown.
*/
#ifndef RUNTIME_SERVICE_H
#define RUNTIME_SERVICE_H

struct rt;

/* Build the services of the registry and start the auto_start ones.
** Returns 0 or -1 (an error was printed). Call after the engine started. */
int service_start_all(struct rt *rt);

/* Stop restarting: shutdown has begun. Any thread. */
void service_stop_all(struct rt *rt);

/* Free the supervisor's state (after the engine stopped). */
void service_free_all(struct rt *rt);

#endif
