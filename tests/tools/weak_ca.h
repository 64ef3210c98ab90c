/*
 * weak_ca: a CA that collapses under a storm, for tests and the benchmark
 * (issue 16). weak_ca.c is the front (TLS, HTTP, the control listener),
 * weak_ca_app.c the application behind it (K worker slots, FIFO, the
 * issuing itself). The two share one mutex, the counters and the job.
 */
#ifndef WEAK_CA_H
#define WEAK_CA_H

#include <pthread.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define WCA_K_MAX		256	/* worker slots (threads) at most */
#define WCA_MS_MAX		600000	/* service_ms, timeout_ms at most */

/* The counters of GET /stats, in its order: one list, used to declare,
 * print and reset them (memcached's X-macro habit). */
#define WCA_COUNTERS(X)		\
	X(requests)		\
	X(served)		\
	X(timeouts)		\
	X(wasted)		\
	X(in_service)		\
	X(in_service_max)	\
	X(in_system)		\
	X(in_system_max)	\
	X(connections)		\
	X(refused_connections)	\
	X(cacerts)

struct wca_counters {
#define WCA_DECL(name) unsigned long name;
	WCA_COUNTERS(WCA_DECL)
#undef WCA_DECL
};

/* One enrollment handed from the front to the application. Two owners,
 * the front and the worker; whoever drops it last frees it (wca_job_put). */
struct wca_job {
	struct wca_job	*jb_next;	/* the FIFO */
	int		 jb_refs;
	int		 jb_done;	/* the worker finished it */
	int		 jb_abandoned;	/* the front answered 504 */
	pthread_cond_t	 jb_cv;		/* signalled at jb_done */
	char		*jb_csr;	/* base64 CSR as received */
	size_t		 jb_csr_len;
	int		 jb_status;	/* the application's answer */
	char		*jb_body;	/* malloc'd; base64 PKCS#7 or a reason */
	size_t		 jb_body_len;
};

/* The whole server: settings, PKI, the application's queue, counters.
 * wa_mtx guards everything below it. */
struct wca {
	int		 wa_listen_fd;
	int		 wa_control_fd;	/* -1: no control listener */
	int		 wa_idle_ms;
	int		 wa_max_conns;
	X509		*wa_ca_cert;
	EVP_PKEY	*wa_ca_key;
	char		*wa_cacerts;	/* base64 certs-only PKCS#7 of the CA */
	size_t		 wa_cacerts_len;

	pthread_mutex_t	 wa_mtx;
	pthread_cond_t	 wa_work_cv;	/* a job queued or a slot freed */
	int		 wa_k;
	int		 wa_service_ms;
	int		 wa_timeout_ms;
	int		 wa_threads;	/* worker threads started */
	int		 wa_open_conns;
	struct wca_job	*wa_head, *wa_tail;
	struct wca_counters wa_c;
};

/* weak_ca_app.c */
int	 wca_app_init(struct wca *);
int	 wca_set_k(struct wca *, int k);	/* under wa_mtx */
struct wca_job *wca_job_new(const char *csr, size_t len);
void	 wca_submit(struct wca *, struct wca_job *);
int	 wca_wait(struct wca *, struct wca_job *, int *timeout_ms);
void	 wca_job_put(struct wca *, struct wca_job *);
char	*wca_pkcs7_b64(X509 *, size_t *len);
void	 wca_stats_json(struct wca *, char *buf, size_t size);
void	 wca_stats_reset(struct wca *);
void	 wca_count(struct wca *, unsigned long *counter);

#endif
