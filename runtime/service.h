/*
** runtime/service.h: supervision of process.service entries (spec 1.3, 1.4):
** auto-start in dependency order, restart with backoff on an error exit,
** none on a clean exit, cancel in reverse order at shutdown.
*/
#ifndef RUNTIME_SERVICE_H
#define RUNTIME_SERVICE_H

struct rt;

/* Build the services of the registry and start the auto_start ones (and
** what they require), each once the services it requires are up. Returns
** 0 or -1 (an error was printed). Call after the engine started. */
int service_start_all(struct rt *rt);

/* Shutdown has begun: stop restarting, and stop the running services in
** reverse dependency order, each with a CANCEL event (reason "service
** stopping") once the services requiring it have stopped, terminated if
** still alive after its stop_timeout. Returns at once; the stopping runs on
** shard 0 and ends when every service process has exited. Any thread;
** calls after the first do nothing. */
void service_stop_all(struct rt *rt);

/* Free the supervisor's state (after the engine stopped). */
void service_free_all(struct rt *rt);

#endif
