/*
** bench/nats_raw.c: the transport's floor for bench/cluster.sh: two libnats
** connections to the same nats-server passing one message back and forth,
** with nothing of the runtime in between.
**
**   nats_raw URL ROUNDS        (no arguments: exit 77, a skip)
**
** Connection A echoes what arrives on "wippy.bench.echo" to its reply
** subject from libnats's delivery thread; B publishes with a reply subject
** and waits on a synchronous subscription for the answer, ROUNDS times.
** Both connections send at once (natsOptions_SetSendAsap) instead of
** through libnats's flusher, which is the lowest latency libnats offers.
** Prints "raw pingpong ROUNDS SECONDS round_trips_per_s p50_us p99_us",
** the same columns as the wippy driver.
*/
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void echo(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *c)
{
	(void)sub;
	(void)c;
	natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m),
			       natsMsg_GetDataLength(m));
	natsMsg_Destroy(m);
}

static natsConnection *connect_to(const char *url)
{
	natsOptions *o = NULL;
	natsConnection *c = NULL;
	if (natsOptions_Create(&o) != NATS_OK || natsOptions_SetURL(o, url) != NATS_OK ||
	    natsOptions_SetSendAsap(o, true) != NATS_OK ||
	    natsConnection_Connect(&c, o) != NATS_OK) {
		fprintf(stderr, "nats_raw: cannot connect to %s\n", url);
		exit(1);
	}
	natsOptions_Destroy(o);
	return c;
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 77;
	int n = atoi(argv[2]);
	if (n < 1)
		return 2;
	natsConnection *a = connect_to(argv[1]), *b = connect_to(argv[1]);
	natsSubscription *es = NULL, *rs = NULL;
	natsMsg *r = NULL;
	double *lat = malloc((size_t)n * sizeof(*lat));
	if (lat == NULL ||
	    natsConnection_Subscribe(&es, a, "wippy.bench.echo", echo, NULL) != NATS_OK ||
	    natsConnection_SubscribeSync(&rs, b, "wippy.bench.back") != NATS_OK ||
	    natsConnection_Flush(a) != NATS_OK || natsConnection_Flush(b) != NATS_OK)
		return 1;
	double t0;
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		double s = now_us();
		if (natsConnection_PublishRequestString(b, "wippy.bench.echo", "wippy.bench.back",
							"x") != NATS_OK ||
		    natsSubscription_NextMsg(&r, rs, 5000) != NATS_OK) {
			fprintf(stderr, "nats_raw: round trip %d failed\n", i);
			return 1;
		}
		natsMsg_Destroy(r);
		lat[i] = now_us() - s;
	}
	double secs = (now_us() - t0) / 1e6;
	qsort(lat, (size_t)n, sizeof(*lat), cmp);
	printf("raw pingpong %d %.3f %.0f %.0f %.0f\n", n, secs, n / secs, lat[n / 2],
	       lat[(size_t)((double)n * 0.99)]);
	natsSubscription_Destroy(es);
	natsSubscription_Destroy(rs);
	natsConnection_Destroy(a);
	natsConnection_Destroy(b);
	free(lat);
	return 0;
}
