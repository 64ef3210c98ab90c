/*
 * log: timestamped lines on stderr, one per event, as text ("TIME LEVEL
 * MESSAGE") or as JSON ({"time":..,"level":..,"msg":..}), and optionally
 * the same messages to syslog(3). The level, the format and the syslog
 * switch are the only global state in estrad. Callers never pass secrets
 * (passwords, Authorization headers, keys); OpenSSL's error strings carry
 * none.
 *
 * Worker threads (audit, store, bcrypt) log too: every line is built in a
 * buffer and handed to the kernel in one write(2), so lines never mix.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "estrad/b64.h"
#include "estrad/log.h"

#define LOG_MSG_MAX	2048	/* a longer message is cut */

/* Set on the main thread (start-up, reload), read by every thread. */
static _Atomic int log_threshold = LOG_LEVEL_INFO;
static _Atomic int log_format = LOG_FORMAT_TEXT;
static _Atomic int log_syslog_on;
static _Atomic int log_facility = LOG_DAEMON;
static int log_syslog_opened;
static char log_ident[64] = "estrad";

const char *const log_level_names[LOG_LEVEL_MAX + 1] = {
	"error", "warn", "info", "debug", NULL
};

static const int log_level_syslog[LOG_LEVEL_MAX] = {
	LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG
};

/* "syslog_facility"'s names (the config row's), and syslog(3)'s codes. */
const char *const log_facility_names[] = {
	"daemon", "user", "auth", "authpriv", "local0", "local1", "local2",
	"local3", "local4", "local5", "local6", "local7", NULL
};
static const int log_facility_codes[] = {
	LOG_DAEMON, LOG_USER, LOG_AUTH, LOG_AUTHPRIV, LOG_LOCAL0, LOG_LOCAL1,
	LOG_LOCAL2, LOG_LOCAL3, LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7
};
_Static_assert(sizeof(log_facility_codes) / sizeof(log_facility_codes[0]) ==
    sizeof(log_facility_names) / sizeof(log_facility_names[0]) - 1,
    "one syslog code per facility name");

void
log_init(enum log_level level)
{
	log_threshold = level;
}

int
log_wants(enum log_level level)
{
	return (int)level <= (int)log_threshold;
}

void
log_configure(enum log_format fmt, int use_syslog, int facility,
    const char *ident)
{
	int fac = LOG_DAEMON;

	if (facility >= 0 && (size_t)facility <
	    sizeof(log_facility_codes) / sizeof(log_facility_codes[0]))
		fac = log_facility_codes[facility];
	log_format = fmt == LOG_FORMAT_JSON ? LOG_FORMAT_JSON :
	    LOG_FORMAT_TEXT;
	log_facility = fac;
	if (use_syslog && !log_syslog_opened) {
		/*
		 * openlog keeps the ident pointer: a static copy. LOG_NDELAY
		 * connects to /dev/log now, before privileges are dropped
		 * or a sandbox hides the socket. The facility goes with each
		 * message, so a reload can change it without reopening.
		 */
		if (ident != NULL)
			snprintf(log_ident, sizeof(log_ident), "%s", ident);
		openlog(log_ident, LOG_PID | LOG_NDELAY, fac);
		log_syslog_opened = 1;
	}
	log_syslog_on = use_syslog != 0;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629), or 0. */
static size_t
log_utf8_len(const unsigned char *p)
{
	unsigned	cp;
	size_t		len;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	/* A NUL fails the continuation test: no read past the string. */
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (cp >= 0xd800 && cp <= 0xdfff) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/*
 * in as the contents of a JSON string (RFC 8259 §7) into out (NUL
 * terminated); returns the length. Not jansson: a message may hold bytes
 * that are not UTF-8 (a peer's garbage quoted in a warning), which
 * json_string() refuses; here each such byte becomes U+FFFD.
 */
static size_t
log_json_escape(char *out, size_t outlen, const char *in)
{
	const unsigned char	*p = (const unsigned char *)in;
	size_t			 n = 0, len;

	while (*p != '\0' && outlen - n > 7) {
		if (*p == '"' || *p == '\\') {
			out[n++] = '\\';
			out[n++] = (char)*p++;
		} else if (*p == '\n' || *p == '\r' || *p == '\t') {
			out[n++] = '\\';
			out[n++] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
			p++;
		} else if (*p < 0x20 || *p == 0x7f) {
			memcpy(out + n, "\\u00", 4);
			hex_encode(p++, 1, out + n + 4);
			n += 6;
		} else if (*p < 0x80)
			out[n++] = (char)*p++;
		else if ((len = log_utf8_len(p)) != 0) {
			memcpy(out + n, p, len);
			n += len;
			p += len;
		} else {
			memcpy(out + n, "\\ufffd", 6);
			n += 6;
			p++;
		}
	}
	out[n] = '\0';
	return n;
}

size_t
log_quote(char *out, size_t outlen, const void *in, size_t inlen, int flags)
{
	const unsigned char	*p = in;
	size_t			 i, o = 0;
	unsigned char		 lo = flags & LOG_QUOTE_PROSE ? 0x20 : 0x21;

	if (outlen == 0)
		return 0;
	for (i = 0; i < inlen; i++) {
		int keep = p[i] >= lo && p[i] <= 0x7e &&
		    ((flags & LOG_QUOTE_PROSE) ||
		    (p[i] != '"' && p[i] != '\\'));

		if (o + (keep ? 1 : 4) >= outlen)
			break;
		if (keep)
			out[o++] = (char)p[i];
		else {
			out[o++] = '\\';
			out[o++] = 'x';
			hex_encode(p + i, 1, out + o);
			o += 2;
		}
	}
	out[o] = '\0';
	return i;
}

/* All of buf to stderr, in one write unless the kernel splits it. */
static void
log_write(const char *buf, size_t len)
{
	ssize_t w;

	while (len > 0) {
		if ((w = write(STDERR_FILENO, buf, len)) < 0) {
			if (errno == EINTR)
				continue;
			return;		/* nowhere left to complain */
		}
		buf += w;
		len -= (size_t)w;
	}
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char		 stamp[32], msg[LOG_MSG_MAX];
	/* The worst case: every byte of msg escaped as \u00XX. */
	char		 line[LOG_MSG_MAX * 6 + 128];
	char		 esc[LOG_MSG_MAX * 6 + 8];
	struct timespec	 now;
	struct tm	 tm;
	int		 n, saved = errno;

	if ((int)level > log_threshold || level >= LOG_LEVEL_MAX)
		return;
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	if (log_format == LOG_FORMAT_JSON) {
		log_json_escape(esc, sizeof(esc), msg);
		n = snprintf(line, sizeof(line), "{\"time\":\"%s.%03ldZ\","
		    "\"level\":\"%s\",\"msg\":\"%s\"}\n", stamp,
		    now.tv_nsec / 1000000, log_level_names[level], esc);
	} else
		n = snprintf(line, sizeof(line), "%s.%03ldZ %s %s\n", stamp,
		    now.tv_nsec / 1000000, log_level_names[level], msg);
	if (n > 0)
		log_write(line, (size_t)n < sizeof(line) ? (size_t)n :
		    sizeof(line) - 1);
	/* syslog stamps and ranks lines itself: only the message. */
	if (log_syslog_on)
		syslog(log_facility | log_level_syslog[level], "%s", msg);
	errno = saved;
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

int
log_throttle(struct log_throttle *t, char *more, size_t morelen)
{
	struct timespec	ts;
	int64_t		now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (t->lt_logged_ms != 0 && now - t->lt_logged_ms < 1000) {
		t->lt_skipped++;
		return 0;
	}
	if (t->lt_skipped > 0)
		snprintf(more, morelen, " (%lu more since the last such line)",
		    t->lt_skipped);
	else if (morelen > 0)
		more[0] = '\0';
	t->lt_logged_ms = now;
	t->lt_skipped = 0;
	return 1;
}
