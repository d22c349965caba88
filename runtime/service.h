/*
** runtime/service.h: supervision of process.service entries (spec 1.3, 1.4):
** auto-start in dependency order, restart with backoff on an error exit,
** none on a clean exit, cancel in reverse order at shutdown.
**
** The supervisor depends on the rt (runtime/rt.h), never the reverse: it
** hands the rt a struct rt_supervisor, whose hooks the rt's shutdown
** poller and rt_free call.
*/
#ifndef RUNTIME_SERVICE_H
#define RUNTIME_SERVICE_H

struct rt;

/* Build the services of the registry, hand the supervisor to rt
** (rt_set_supervisor), and start the auto_start ones (and what they
** require), each once the services it requires are up; nothing starts
** once shutdown has begun. Returns 0 or -1 (an error was printed; nothing
** is left to free). Call once, after the engine started.
**
** From then on the stop is the rt's: when shutdown begins nothing is
** restarted, and the running services are stopped in reverse dependency
** order, each with a CANCEL event (reason "service stopping") once the
** services requiring it have stopped, terminated if still alive after its
** stop_timeout. rt_free frees the supervisor. */
int service_start_all(struct rt *rt);

#endif
