/*
** runtime/evbus.h: the event bus (the original's eventbus): events of
** {system, kind, path, data} sent to every subscription whose system and
** kind patterns match.
**
** Patterns are dot-separated segments: "*" matches one segment, "**"
** zero or more, "(a|b)" one of the alternatives, anything else itself; an
** empty or absent kind pattern matches every kind. A subscription belongs
** to one process: an event is delivered as a user message on the
** subscription's own topic (proc_send, any shard), which the process's
** `events` module hands to the subscription's channel. The bus holds no
** Lua: the caller encodes the event once as a payload and the bus copies
** it into each message.
**
** Any thread. One mutex guards the subscriptions; it is held while
** messages are pushed (proc_send takes the pid table's locks after it,
** never before).
*/
#ifndef RUNTIME_EVBUS_H
#define RUNTIME_EVBUS_H

#include <stdint.h>

struct rt;
struct payload;

/* Whether s matches pattern (grammar above). */
int evbus_match(const char *pattern, const char *s);

/* Subscribe process pid to system (a pattern, not empty) and kind (a
** pattern, or NULL/"" for all), delivering on topic (copied). Returns the
** subscription's id (never 0). */
uint64_t evbus_subscribe(struct rt *rt, uint64_t pid, const char *system,
			 const char *kind, const char *topic);

/* Remove a subscription; an unknown id is a no-op. */
void evbus_unsubscribe(struct rt *rt, uint64_t id);

/* Send the event ev (the payload of one value, the event table) to every
** matching subscription. A subscription whose process is gone is
** dropped. Returns the number of messages delivered. */
int evbus_send(struct rt *rt, uint64_t from, const char *system, const char *kind,
	       const struct payload *ev);

/* Free the bus (rt_free). */
void evbus_free(struct rt *rt);

#endif
