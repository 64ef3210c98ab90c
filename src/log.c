/*
 * log: timestamped lines on stderr, one per event. The level is the only
 * global state in estrad. Callers never pass secrets (passwords,
 * Authorization headers, keys); OpenSSL's error strings carry none.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>

#include "estrad/log.h"

static enum log_level log_threshold = LOG_LEVEL_INFO;

static const char *const log_level_names[LOG_LEVEL_MAX] = {
	"error", "warn", "info", "debug"
};

void
log_init(enum log_level level)
{
	log_threshold = level;
}

int
log_level_from_name(const char *name)
{
	for (int i = 0; i < LOG_LEVEL_MAX; i++)
		if (strcmp(name, log_level_names[i]) == 0)
			return i;
	return -1;
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char		 stamp[32];
	struct timespec	 now;
	struct tm	 tm;

	if (level > log_threshold)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf per line keeps lines whole on a shared stderr. */
	char line[2048];
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	fprintf(stderr, "%s.%03ldZ %s %s\n", stamp, now.tv_nsec / 1000000,
	    log_level_names[level], line);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void
log_ssl_errors(enum log_level level, const char *what)
{
	unsigned long	 e;
	char		 buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_msg(level, "%s: %s", what, buf);
	}
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
