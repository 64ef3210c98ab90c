/*
 * Queue tests (RFC 7030 §4.2.3), driving queue.c for real: a config
 * loaded from a file in a temporary directory, the store on disk with its
 * writer thread, the upstream context and the audit writer, all on a
 * real event_base. The upstream is a refused URL (https://127.0.0.1:1),
 * or, where a transfer must stay in flight, a listening socket that never
 * answers. What is checked:
 *
 *   - a retry that arrives while its entry's insert is still in the writer
 *     waits for that insert (QUEUE_WAIT) and gets the same "queued as N"
 *     as the first request, rather than a second entry;
 *   - a full queue refuses at once: 503 with Retry-After;
 *   - the forwarder writes attempts+1 before the request goes to the CA
 *     (seen by a second connection while the CA has not answered);
 *   - an operator's purge from another connection drops the entry from
 *     the running queue, and the audit file has the entry's pending and
 *     purged lines;
 *   - a refused connection, or a CA that never completes the TLS
 *     handshake, is an attempt but not one the CA received (ca_received
 *     stays 0), and the entry keeps curl's real reason;
 *   - an operator's retry from another connection (`estrad queue retry`)
 *     makes the running queue send at once, past a long backoff and the
 *     upstream's open breaker.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "estrad/audit.h"
#include "estrad/config.h"
#include "estrad/log.h"
#include "estrad/queue.h"
#include "estrad/queue_cli.h"
#include "estrad/store.h"
#include "estrad/upstream.h"

#include "testpki.h"

#define REFUSED_URL	"https://127.0.0.1:1/.well-known/est"
#define RETRY_AFTER	"7"	/* queue.retry_after in the config */
#define NKEYS		3

/* What a queue_put_cb was given. */
struct answer {
	int			 called;
	struct est_reply	 reply;
};

struct fixture {
	char			 dir[64];	/* the test's own, removed after */
	char			 state[96];	/* dir/state: the store's */
	char			 audit_file[96];
	char			 err[512];
	EVP_PKEY		*keys[NKEYS];	/* one per client request */
	struct event_base	*base;
	struct config		*cfg;
	struct audit		*audit;
	struct upstream_ctx	*up;
	struct store		*st;
	struct queue		*q;
	const char		*upstream_extra;	/* members, or NULL */
	int			 silent;	/* a CA that never answers */
	int			 silent_peer;	/* its accepted connection */
	/* Answers outlive the test function: store_close() in teardown
	 * may still call back. */
	struct answer		 ans[4];
};

static int64_t
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- set-up ------------------------------------------------------------- */

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->silent = f->silent_peer = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_queue.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->audit_file, sizeof(f->audit_file), "%s/audit.jsonl",
	    f->dir);
	testpki_write_tls(f->dir, NULL);
	if ((f->base = event_base_new()) == NULL)
		return -1;
	for (size_t i = 0; i < NKEYS; i++)
		f->keys[i] = testpki_key_new("p256");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	/* As server_free: the writer's last callbacks need the queue;
	 * the queue's transfers are cancelled while the multi handle is. */
	store_close(f->st);
	queue_free(f->q);
	upstream_ctx_free(f->up);
	audit_free(f->audit);
	config_free(f->cfg);
	event_base_free(f->base);
	for (size_t i = 0; i < NITEMS(f->ans); i++)
		est_reply_clear(&f->ans[i].reply);
	for (size_t i = 0; i < NKEYS; i++)
		EVP_PKEY_free(f->keys[i]);
	if (f->silent_peer != -1)
		close(f->silent_peer);
	if (f->silent != -1)
		close(f->silent);
	testpki_rmtree(f->dir);
	free(f);
	return 0;
}

static int
group_setup(void **state)
{
	log_init(LOG_LEVEL_WARN);
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int
group_teardown(void **state)
{
	curl_global_cleanup();
	return 0;
}

/* The daemon's offline half, as est.c wires it, upstream at url. The
 * upstream's ca_bundle is set: without one, libcurl loads the system's
 * store, and where there is none (no ca-certificates: the image's build
 * stage) every transfer fails before it connects, so the silent CA never
 * sees the forwarder. */
static void
start(struct fixture *f, const char *url)
{
	struct config_errors	 errs = { NULL, 0 };
	char			 path[160];
	FILE			*fp;

	snprintf(path, sizeof(path), "%s/estrad.json", f->dir);
	assert_non_null(fp = fopen(path, "w"));
	fprintf(fp, "{\n"
	    "  \"listen\": [\"127.0.0.1:0\"],\n"
	    "  \"tls\": {\"certificate\": \"%s/cert.pem\", "
	    "\"key\": \"%s/key.pem\", \"client_ca\": \"%s/cert.pem\"},\n"
	    "  \"upstreams\": {\"ca\": {\"url\": \"%s\", "
	    "\"ca_bundle\": \"%s/cert.pem\"%s%s}},\n"
	    "  \"default\": {\"upstream\": \"ca\"},\n"
	    "  \"state_dir\": \"%s\",\n"
	    "  \"queue\": {\"max_entries\": 2, \"retry_after\": " RETRY_AFTER
	    "},\n"
	    "  \"audit\": {\"file\": \"%s\", \"stderr\": false}\n"
	    "}\n", f->dir, f->dir, f->dir, url, f->dir,
	    f->upstream_extra ? ", " : "",
	    f->upstream_extra ? f->upstream_extra : "", f->state,
	    f->audit_file);
	fclose(fp);
	f->cfg = config_load(path, &errs);
	for (size_t i = 0; i < errs.n; i++)
		print_message("config: %s\n", errs.lines[i]);
	config_errors_clear(&errs);
	assert_non_null(f->cfg);
	assert_true(f->cfg->queue.enabled);
	if ((f->audit = audit_new(f->base, &f->cfg->audit, f->err,
	    sizeof(f->err))) == NULL)
		fail_msg("audit_new: %s", f->err);
	assert_non_null(f->up = upstream_ctx_new(f->base, f->cfg));
	if ((f->st = store_open(f->state, 1, f->err, sizeof(f->err))) == NULL)
		fail_msg("store_open: %s", f->err);
	if ((f->q = queue_new(f->base, f->cfg, f->st, NULL, f->up, f->audit,
	    f->err, sizeof(f->err))) == NULL)
		fail_msg("queue_new: %s", f->err);
	assert_int_equal(store_writer_start(f->st, f->base), 0);
	assert_true(queue_enabled(f->q));
	assert_int_equal(queue_depth(f->q), 0);
}

/* A CA that accepts connections and never says a word: returns its URL
 * in url. Its transfers stay in flight for the upstream's timeout. */
static void
start_silent(struct fixture *f, char *url, size_t len)
{
	struct sockaddr_in	sin;
	socklen_t		slen = sizeof(sin);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((f->silent = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	assert_int_equal(bind(f->silent, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	assert_int_equal(listen(f->silent, 8), 0);
	assert_int_equal(getsockname(f->silent, (struct sockaddr *)&sin,
	    &slen), 0);
	assert_int_equal(fcntl(f->silent, F_SETFL, O_NONBLOCK), 0);
	snprintf(url, len, "https://127.0.0.1:%u/.well-known/est",
	    ntohs(sin.sin_port));
}

/* ---- the loop ----------------------------------------------------------- */

static void
run_for(struct fixture *f, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	assert_int_equal(event_base_loopexit(f->base, &tv), 0);
	assert_true(event_base_dispatch(f->base) >= 0);
}

/* Run the loop until cond(f, arg) holds, at most ms. 1 if it did. */
static int
run_until(struct fixture *f, int (*cond)(struct fixture *, void *),
    void *arg, int ms)
{
	int64_t end = now_ms() + ms;

	while (!cond(f, arg)) {
		if (now_ms() >= end)
			return 0;
		run_for(f, 50);
	}
	return 1;
}

/* ---- requests ----------------------------------------------------------- */

static void
on_done(void *arg, struct est_reply *reply, int64_t deliver)
{
	struct answer *a = arg;

	a->called++;
	est_reply_clear(&a->reply);
	a->reply = *reply;		/* the callee takes the reply */
	memset(reply, 0, sizeof(*reply));
}

/* Answers ans[0 .. *n - 1] have all come. */
static int
answered(struct fixture *f, void *arg)
{
	size_t n = *(size_t *)arg;

	for (size_t i = 0; i < n; i++)
		if (f->ans[i].called == 0)
			return 0;
	return 1;
}

static void
wait_answers(struct fixture *f, size_t n)
{
	if (!run_until(f, answered, &n, 3000))
		fail_msg("the queue did not answer %zu request(s) in 3 s", n);
}

/* A signed CSR for O=Example, CN=cn: its DER in *der (OPENSSL_free). */
static X509_REQ *
make_req(EVP_PKEY *key, const char *cn, unsigned char **der, int *derlen)
{
	char		 subject[128];
	X509_REQ	*req;

	snprintf(subject, sizeof(subject), "O=Example/CN=%s", cn);
	req = testpki_csr(&(struct csr_spec){ .pkey = key, .md = "SHA256",
	    .subject = subject });
	*der = NULL;
	*derlen = i2d_X509_REQ(req, der);
	assert_true(*derlen > 0);
	return req;
}

/* The key of alice's simpleenroll on the bare path, for req. */
static void
key_of_req(X509_REQ *req, struct queue_key *k)
{
	struct auth_identity id;

	memset(&id, 0, sizeof(id));
	id.method = AUTH_METHOD_DIGEST;
	snprintf(id.name, sizeof(id.name), "alice");
	assert_int_equal(queue_key_make(k, NULL, EST_OP_SIMPLEENROLL, &id,
	    req), 0);
}

/* The same, for a fresh CSR of keys[i] (a retry's CSR: other bytes). */
static void
key_of(struct fixture *f, size_t i, struct queue_key *k)
{
	unsigned char	*der;
	int		 len;
	X509_REQ	*req = make_req(f->keys[i], "dev", &der, &len);

	key_of_req(req, k);
	X509_REQ_free(req);
	OPENSSL_free(der);
}

/* queue_put of keys[i]'s request; its answer goes to f->ans[slot].
 * Returns queue_put's result; *reply holds an immediate refusal. */
static int
put(struct fixture *f, size_t i, size_t slot, struct est_reply *reply)
{
	struct queue_put	 p;
	struct queue_key	 k;
	struct queue_job	*job = NULL;
	unsigned char		*der;
	int			 len, rc;
	char			 rid[32];
	X509_REQ		*req = make_req(f->keys[i], "dev", &der, &len);

	key_of_req(req, &k);
	X509_REQ_free(req);
	snprintf(rid, sizeof(rid), "test-%zu", i);
	memset(&p, 0, sizeof(p));
	p.key = &k;
	p.route = config_route(f->cfg, NULL);
	p.content_type = "application/pkcs10";
	p.csr = der;
	p.csr_len = (size_t)len;
	p.request_id = rid;
	p.state = QS_PENDING;
	p.note = "upstream CA unreachable";
	memset(reply, 0, sizeof(*reply));
	rc = queue_put(f->q, &p, on_done, &f->ans[slot], &job, reply);
	/* A job exactly when the answer follows. */
	if (rc == 0)
		assert_non_null(job);
	else
		assert_null(job);
	OPENSSL_free(der);
	return rc;
}

/* The entry id of a 202 "queued as N (STATE): ...", checked. */
static int64_t
queued_id(const struct est_reply *r, const char *state)
{
	char		 want[32], text[256];
	long long	 id = 0;

	assert_int_equal(r->status, 202);
	assert_string_equal(r->retry_after, RETRY_AFTER);
	assert_non_null(r->body);
	snprintf(text, sizeof(text), "%.*s", (int)r->body_len,
	    (const char *)r->body);
	assert_int_equal(sscanf(text, "queued as %lld (%31[a-z])", &id, want),
	    2);
	assert_string_equal(want, state);
	assert_true(id > 0);
	return id;
}

static enum queue_found
lookup(struct fixture *f, size_t i, struct est_reply *reply,
    int64_t *deliver, size_t slot, struct queue_job **job)
{
	struct queue_key k;

	key_of(f, i, &k);
	memset(reply, 0, sizeof(*reply));
	return queue_lookup(f->q, &k, reply, deliver, on_done, &f->ans[slot],
	    job);
}

/* ---- the store, from another connection --------------------------------- */

struct loaded {
	int64_t			 id;
	int			 found;
	struct store_entry	 e;
};

static void
load_each(void *arg, struct store_entry *e)
{
	struct loaded *l = arg;

	if (e->id == l->id) {
		l->found = 1;
		l->e = *e;	/* takes the buffers */
		memset(e, 0, sizeof(*e));
	} else
		store_entry_clear(e);
}

/* Row id as `estrad queue` would see it now (0 if there is none). */
static int
disk_entry(struct fixture *f, int64_t id, struct store_entry *e)
{
	struct store	*cli;
	struct loaded	 l;
	char		 err[512];

	memset(&l, 0, sizeof(l));
	l.id = id;
	if ((cli = store_open(f->state, 0, err, sizeof(err))) == NULL)
		fail_msg("store_open (second connection): %s", err);
	if (store_load_entries(cli, load_each, &l, err, sizeof(err)) == -1)
		fail_msg("store_load_entries: %s", err);
	store_close(cli);
	*e = l.e;
	return l.found;
}

/* ---- (a) a retry while the insert is in the writer ---------------------- */

static void
test_retry_waits_for_insert(void **state)
{
	struct fixture		*f = *state;
	struct est_reply	 r;
	struct queue_job	*job = NULL;
	int64_t			 deliver = -1, id;

	start(f, REFUSED_URL);
	assert_int_equal(put(f, 0, 0, &r), 0);
	assert_int_equal(queue_depth(f->q), 1);
	/* The loop has not run: the insert's completion cannot have been
	 * seen. The retry must join it, not miss (a second entry, a second
	 * certificate later). */
	assert_int_equal(lookup(f, 0, &r, &deliver, 1, &job), QUEUE_WAIT);
	assert_non_null(job);
	assert_int_equal(deliver, 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(f->ans[0].called + f->ans[1].called, 0);

	wait_answers(f, 2);
	id = queued_id(&f->ans[0].reply, "pending");
	assert_int_equal(queued_id(&f->ans[1].reply, "pending"), id);
	assert_int_equal(queue_depth(f->q), 1);

	/* On disk now: answered at once, the same entry. */
	assert_int_equal(lookup(f, 0, &r, &deliver, 2, &job), QUEUE_ANSWER);
	assert_null(job);
	assert_int_equal(deliver, 0);
	assert_int_equal(queued_id(&r, "pending"), id);
	est_reply_clear(&r);
	/* Another key is another request. */
	assert_int_equal(lookup(f, 1, &r, &deliver, 2, &job), QUEUE_MISS);
	assert_null(job);
	/* Each waiter was answered once. */
	run_for(f, 100);
	assert_int_equal(f->ans[0].called, 1);
	assert_int_equal(f->ans[1].called, 1);
	assert_int_equal(f->ans[2].called, 0);
}

/* ---- (b) full ----------------------------------------------------------- */

static void
test_full(void **state)
{
	struct fixture		*f = *state;
	struct est_reply	 r;

	start(f, REFUSED_URL);
	assert_int_equal(put(f, 0, 0, &r), 0);
	assert_int_equal(put(f, 1, 1, &r), 0);
	assert_int_equal(queue_depth(f->q), 2);
	/* max_entries 2: refused at once, before either insert is done. */
	assert_int_equal(put(f, 2, 2, &r), -1);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.retry_after, RETRY_AFTER);
	assert_non_null(strstr(r.reason, "queue is full (2 entries)"));
	est_reply_clear(&r);
	assert_int_equal(queue_depth(f->q), 2);

	wait_answers(f, 2);
	assert_int_not_equal(queued_id(&f->ans[0].reply, "pending"),
	    queued_id(&f->ans[1].reply, "pending"));
	/* Still full once they are on disk; no answer for the refused. */
	assert_int_equal(put(f, 2, 2, &r), -1);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.retry_after, RETRY_AFTER);
	est_reply_clear(&r);
	run_for(f, 50);
	assert_int_equal(f->ans[2].called, 0);
	assert_int_equal(queue_depth(f->q), 2);
}

/* ---- (c) the attempt is on disk before the send ------------------------- */

/* Against a refused URL: the forwarder's first tick (1 s) tries it; the
 * entry stays pending, with its attempt on disk. */
static void
test_attempt_refused(void **state)
{
	struct fixture		*f = *state;
	struct est_reply	 r;
	struct store_entry	 e;
	struct queue_job	*job;
	int64_t			 deliver, id;

	start(f, REFUSED_URL);
	assert_int_equal(put(f, 0, 0, &r), 0);
	wait_answers(f, 1);
	id = queued_id(&f->ans[0].reply, "pending");
	assert_int_equal(disk_entry(f, id, &e), 1);
	assert_int_equal(e.attempts, 0);
	store_entry_clear(&e);

	run_for(f, 1500);
	assert_int_equal(lookup(f, 0, &r, &deliver, 1, &job), QUEUE_ANSWER);
	assert_int_equal(queued_id(&r, "pending"), id);
	est_reply_clear(&r);
	assert_int_equal(queue_depth(f->q), 1);
	assert_int_equal(disk_entry(f, id, &e), 1);
	assert_int_equal(e.state, QS_PENDING);
	assert_true(e.attempts >= 1);
	assert_int_equal(e.ca_status, 0);
	/* Still to be sent: the CSR is kept. */
	assert_true(e.csr_len > 0);
	store_entry_clear(&e);
}

static int
silent_connected(struct fixture *f, void *arg)
{
	if (f->silent_peer == -1)
		f->silent_peer = accept(f->silent, NULL, NULL);
	return f->silent_peer != -1;
}

/* Against a CA that never answers: once the forwarder's connection is
 * at the CA, the attempt is already on disk (the old order, send then
 * write after the answer, left 0 there until the CA answered). */
static void
test_attempt_before_send(void **state)
{
	struct fixture		*f = *state;
	struct est_reply	 r;
	struct store_entry	 e;
	char			 url[128];
	int64_t			 id;

	start_silent(f, url, sizeof(url));
	start(f, url);
	assert_int_equal(put(f, 0, 0, &r), 0);
	wait_answers(f, 1);
	id = queued_id(&f->ans[0].reply, "pending");

	if (!run_until(f, silent_connected, NULL, 3000))
		fail_msg("the forwarder did not connect to the CA in 3 s");
	run_for(f, 200);
	assert_int_equal(disk_entry(f, id, &e), 1);
	assert_int_equal(e.state, QS_PENDING);
	assert_int_equal(e.attempts, 1);
	assert_int_equal(e.ca_status, 0);
	store_entry_clear(&e);
}

/* ---- (d, e) purge by the operator, and the audit ------------------------ */

static int
gone(struct fixture *f, void *arg)
{
	struct est_reply	 r;
	struct queue_job	*job;
	int64_t			 deliver;
	enum queue_found	 found = lookup(f, 0, &r, &deliver, 3, &job);

	est_reply_clear(&r);
	return found == QUEUE_MISS;
}

/* The states of the "event":"queue" lines of entry id, in file order,
 * space-separated, in out. Every line must be a JSON object. */
static void
audit_states(struct fixture *f, int64_t id, char *out, size_t len)
{
	FILE		*fp = fopen(f->audit_file, "r");
	char		 line[4096];
	json_t		*o;
	json_error_t	 jerr;

	out[0] = '\0';
	if (fp == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		if ((o = json_loads(line, 0, &jerr)) == NULL)
			fail_msg("audit line is not JSON: %s", line);
		assert_true(json_is_object(o));
		if (json_string_value(json_object_get(o, "event")) != NULL &&
		    strcmp(json_string_value(json_object_get(o, "event")),
		    "queue") == 0 &&
		    json_integer_value(json_object_get(o, "queue_id")) == id) {
			assert_non_null(json_string_value(json_object_get(o,
			    "state")));
			snprintf(out + strlen(out), len - strlen(out), "%s%s",
			    out[0] ? " " : "", json_string_value(
			    json_object_get(o, "state")));
			/* Never the CSR. */
			assert_null(json_object_get(o, "csr"));
		}
		json_decref(o);
	}
	fclose(fp);
}

struct audit_want {
	int64_t		 id;
	const char	*states;
};

static int
audit_has(struct fixture *f, void *arg)
{
	struct audit_want	*w = arg;
	char			 got[256];

	audit_states(f, w->id, got, sizeof(got));
	return strcmp(got, w->states) == 0;
}

/* queue_stats (estrad_queue_entries{state}): entries by state, as
 * "pending=1 purged=0 ..." for the states not zero. */
static void
check_states(struct fixture *f, const char *want)
{
	double	n[QS_MAX], oldest;
	char	got[256] = "";
	size_t	len = 0;

	queue_stats(f->q, n, &oldest);
	/* Purged entries leave memory at once: not counted. */
	assert_true(n[QS_PURGED] == -1);
	for (int i = 0; i < QS_MAX; i++)
		if (n[i] > 0)
			len += (size_t)snprintf(got + len, sizeof(got) - len,
			    "%s%s=%g", len ? " " : "", queue_state_name(i), n[i]);
	assert_string_equal(got, want);
}

/* st as `estrad queue` sees it (store_cli over SQLite). */
static const struct store_cli *
as_cli(struct store *st)
{
	static struct store_cli sc;

	store_cli_sqlite(st, &sc);
	return &sc;
}

static void
test_purge(void **state)
{
	struct fixture		*f = *state;
	struct est_reply	 r;
	struct store		*cli;
	struct audit_want	 w;
	char			 got[256];
	int64_t			 id;

	start(f, REFUSED_URL);
	assert_int_equal(put(f, 0, 0, &r), 0);
	wait_answers(f, 1);
	id = queued_id(&f->ans[0].reply, "pending");
	assert_int_equal(queue_depth(f->q), 1);
	check_states(f, "pending=1");
	assert_false(gone(f, NULL));

	/* `estrad queue purge ID` while the daemon runs. */
	if ((cli = store_open(f->state, 0, f->err, sizeof(f->err))) == NULL)
		fail_msg("store_open (second connection): %s", f->err);
	assert_int_equal(queue_cli_purge(as_cli(cli), id, f->audit_file, f->err,
	    sizeof(f->err)), 1);
	store_close(cli);
	/* Picked up every 2 s. */
	if (!run_until(f, gone, NULL, 3500))
		fail_msg("entry %lld still matches 3.5 s after its purge",
		    (long long)id);
	assert_int_equal(queue_depth(f->q), 0);
	check_states(f, "");

	/* The audit: the daemon's "pending", the command's "purged". */
	w.id = id;
	w.states = "pending purged";
	if (!run_until(f, audit_has, &w, 2000)) {
		audit_states(f, id, got, sizeof(got));
		fail_msg("audit states of entry %lld: '%s', expected '%s'",
		    (long long)id, got, w.states);
	}
}

/* ---- (f) what the CA received, and the real reason ---------------------- */

static void
test_refused_not_received(void **state)
{
	struct fixture		*f = *state;
	struct est_reply	 r;
	struct store_entry	 e;
	int64_t			 id;

	start(f, REFUSED_URL);
	assert_int_equal(put(f, 0, 0, &r), 0);
	wait_answers(f, 1);
	id = queued_id(&f->ans[0].reply, "pending");
	run_for(f, 1500);
	assert_int_equal(disk_entry(f, id, &e), 1);
	assert_int_equal(e.state, QS_PENDING);
	assert_true(e.attempts >= 1);
	assert_int_equal(e.ca_received, 0);
	/* curl's own words, after the URL: not just "unreachable". */
	if (strncmp(e.last_error, REFUSED_URL ": ", strlen(REFUSED_URL) + 2)
	    != 0 || strstr(e.last_error, "port 1") == NULL)
		fail_msg("last_error '%s'", e.last_error);
	store_entry_clear(&e);
}

struct attempts_want {
	int64_t	id;
	int	attempts;
};

static int
attempts_reached(struct fixture *f, void *arg)
{
	struct attempts_want	*w = arg;
	struct store_entry	 e;
	int			 ok;

	ok = disk_entry(f, w->id, &e) == 1 && e.attempts >= w->attempts;
	store_entry_clear(&e);
	return ok;
}

/* The backoff is a minute: only the operator's retry sends again soon. */
static void
test_operator_retry(void **state)
{
	struct fixture		*f = *state;
	struct est_reply	 r;
	struct store		*cli;
	struct store_entry	 e;
	struct attempts_want	 w;
	int64_t			 id;

	f->upstream_extra = "\"backoff_initial\": 60, \"backoff_max\": 120, "
	    "\"failure_threshold\": 1";
	start(f, REFUSED_URL);
	assert_int_equal(put(f, 0, 0, &r), 0);
	wait_answers(f, 1);
	id = queued_id(&f->ans[0].reply, "pending");
	w.id = id;
	w.attempts = 1;
	if (!run_until(f, attempts_reached, &w, 3000))
		fail_msg("entry %lld: no first attempt in 3 s", (long long)id);
	/* The breaker is open for a minute: nothing more meanwhile. */
	run_for(f, 2500);
	w.attempts = 2;
	assert_false(attempts_reached(f, &w));

	if ((cli = store_open(f->state, 0, f->err, sizeof(f->err))) == NULL)
		fail_msg("store_open (second connection): %s", f->err);
	assert_int_equal(queue_cli_retry(as_cli(cli), id, f->err, sizeof(f->err)), 0);
	store_close(cli);
	/* Picked up every 2 s, sent at once. */
	if (!run_until(f, attempts_reached, &w, 3500))
		fail_msg("entry %lld not sent again within 3.5 s of the retry",
		    (long long)id);
	/* Really sent, through the open breaker: curl's refusal again, not
	 * estrad's "not sent: every URL ... is down". */
	run_for(f, 500);
	assert_int_equal(disk_entry(f, id, &e), 1);
	if (strncmp(e.last_error, REFUSED_URL ": ", strlen(REFUSED_URL) + 2)
	    != 0)
		fail_msg("after the retry, last_error '%s'", e.last_error);
	assert_int_equal(e.ca_received, 0);
	store_entry_clear(&e);
}

/* A CA that takes the connection and never completes the TLS handshake:
 * the request never left, so the timeout is not received either. */
static void
test_handshake_timeout_not_received(void **state)
{
	struct fixture		*f = *state;
	struct est_reply	 r;
	struct store_entry	 e;
	struct attempts_want	 w;
	char			 url[128];

	start_silent(f, url, sizeof(url));
	f->upstream_extra = "\"timeout\": 0.5, \"connect_timeout\": 0.5";
	start(f, url);
	assert_int_equal(put(f, 0, 0, &r), 0);
	wait_answers(f, 1);
	w.id = queued_id(&f->ans[0].reply, "pending");
	w.attempts = 2;		/* the first one has ended */
	if (!run_until(f, attempts_reached, &w, 5000))
		fail_msg("no second attempt in 5 s");
	assert_int_equal(disk_entry(f, w.id, &e), 1);
	assert_int_equal(e.ca_received, 0);
	if (strncmp(e.last_error, url, strlen(url)) != 0 ||
	    strstr(e.last_error, "time") == NULL)
		fail_msg("last_error '%s'", e.last_error);
	store_entry_clear(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_retry_waits_for_insert,
		    setup, teardown),
		FX_TEST(test_full),
		FX_TEST(test_attempt_refused),
		cmocka_unit_test_setup_teardown(test_attempt_before_send,
		    setup, teardown),
		FX_TEST(test_purge),
		FX_TEST(test_refused_not_received),
		FX_TEST(test_operator_retry),
		FX_TEST(test_handshake_timeout_not_received),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
