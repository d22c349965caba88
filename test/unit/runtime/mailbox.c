/*
** test/unit/runtime/mailbox.c: the mailbox and the message lists.
**
** The mailbox hands messages out in the order they were pushed and is
** empty exactly when everything pushed was popped. A message list keeps
** arrival order, mlist_take unlinks the first match (and only it) wherever
** it sits, head, middle or tail, and the list stays appendable after each
** take; mlist_clear frees what is left (the runner's leak check sees a
** message lost on the way).
*/
#include "runtime/mailbox.h"

#include <string.h>

#include "tap.h"

/* Messages are told apart by their sender number. */
static struct msg *mk(uint64_t from)
{
	return msg_new(MSG_USER, from, from % 2 ? "odd" : "even");
}

static int is_topic(const struct msg *m, void *arg)
{
	return strcmp(m->topic, arg) == 0;
}

/* The senders in l, head to tail, as digits ("135"); at most 31. */
static const char *order(const struct mlist *l)
{
	static char buf[32];
	size_t n = 0;
	for (struct msg *m = l->head; m && n < sizeof(buf) - 1;
	     m = atomic_load_explicit(&m->_next, memory_order_relaxed))
		buf[n++] = (char)('0' + m->from);
	buf[n] = '\0';
	return buf;
}

static void test_mbox(void)
{
	struct mbox b;
	struct msg *m;
	int inorder = 1;
	uint64_t want = 1;

	mbox_init(&b);
	ok(mbox_empty(&b) && mbox_pop(&b) == NULL, "a new mailbox is empty");
	for (uint64_t i = 1; i <= 5; i++)
		mbox_push(&b, mk(i));
	ok(!mbox_empty(&b), "not empty after pushes");
	while ((m = mbox_pop(&b)) != NULL) {
		inorder &= m->from == want++;
		msg_free(m);
	}
	ok(inorder && want == 6, "pops give every message in push order");
	ok(mbox_empty(&b), "empty once all are popped");
}

static void test_mlist(void)
{
	static char even[] = "even", none[] = "none";
	struct mlist l = {0};
	struct msg *m;

	ok(mlist_take(&l, NULL, NULL) == NULL, "take from an empty list: NULL");
	for (uint64_t i = 1; i <= 6; i++)
		mlist_append(&l, mk(i));
	ok(strcmp(order(&l), "123456") == 0, "append keeps arrival order");

	m = mlist_take(&l, is_topic, even);
	ok(m && m->from == 2, "take the first match from the middle");
	msg_free(m);
	ok(strcmp(order(&l), "13456") == 0, "the others keep their order");

	m = mlist_take(&l, NULL, NULL);
	ok(m && m->from == 1 && strcmp(order(&l), "3456") == 0,
	   "take with no predicate: the head");
	msg_free(m);

	m = mlist_take(&l, is_topic, none);
	ok(m == NULL && strcmp(order(&l), "3456") == 0, "no match: nothing moves");

	/* The tail: 6 is the last even one left after 4 goes. */
	msg_free(mlist_take(&l, is_topic, even));
	m = mlist_take(&l, is_topic, even);
	ok(m && m->from == 6 && l.tail && l.tail->from == 5,
	   "taking the tail moves the tail back");
	msg_free(m);
	mlist_append(&l, mk(7));
	ok(strcmp(order(&l), "357") == 0, "append after taking the tail");

	while ((m = mlist_take(&l, NULL, NULL)) != NULL)
		msg_free(m);
	ok(l.head == NULL && l.tail == NULL, "taking everything empties the list");
	mlist_append(&l, mk(8));
	ok(strcmp(order(&l), "8") == 0 && l.head == l.tail, "an emptied list takes appends");

	mlist_append(&l, mk(9));
	mlist_clear(&l);
	ok(l.head == NULL && l.tail == NULL, "clear frees all and empties");
}

int main(void)
{
	test_mbox();
	test_mlist();
	return tap_done();
}
