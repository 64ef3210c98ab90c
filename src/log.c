/*
 * log: timestamped lines on stderr, one per event, as text ("TIME LEVEL
 * MESSAGE") or as JSON in Elastic Common Schema's names ({"@timestamp":..,
 * "log":{"level":..},"message":..,"event":{"dataset":..},...}, built by
 * the writer below), and optionally the same messages to syslog(3). The
 * level, the format and the syslog switch are the only global state in
 * estrad. Callers never pass secrets
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
/*
 * ECS (https://www.elastic.co/guide/en/ecs/current/) is read as is by
 * Filebeat and Elastic Agent and mapped by Vector, Fluent Bit and Loki
 * without a custom parser; the version says which field set we follow.
 */
#define LOG_ECS_VERSION	"8.11.0"
/* Kept back from a line for closing what is open, '\n' and NUL. */
#define LOG_JSON_KEEP	(LOG_JSON_DEPTH + 2)

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
size_t
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
#define LOG_JSON_PLAIN(c)	((c) >= 0x20 && (c) < 0x7f && (c) != '"' && \
	(c) != '\\')

static size_t
log_json_escape(char *out, size_t outlen, const char *in, size_t *used)
{
	const unsigned char	*p = (const unsigned char *)in;
	size_t			 n = 0, len;

	while (*p != '\0' && outlen - n > 7) {
		if (LOG_JSON_PLAIN(*p)) {
			/* A run of bytes that need nothing, in one copy: the
			 * access line's fields are mostly that. */
			size_t run = 1, max = outlen - n - 7;

			while (run < max && LOG_JSON_PLAIN(p[run]))
				run++;
			memcpy(out + n, p, run);
			n += run;
			p += run;
		} else if (*p == '"' || *p == '\\') {
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
		} else if ((len = log_utf8_len(p)) != 0) {
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
	*used = (size_t)((const char *)p - in);
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

/* All of buf to stderr, in one write unless the kernel splits it. 0 or
 * -1 (errno set): the caller may have nowhere left to complain. */
static int
log_write(const char *buf, size_t len)
{
	ssize_t w;

	while (len > 0) {
		if ((w = write(STDERR_FILENO, buf, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

void
log_stamp(char *out, size_t outlen)
{
	struct timespec	now;
	struct tm	tm;
	size_t		n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, outlen - n, ".%03ldZ", now.tv_nsec / 1000000);
}

/* ---- the JSON writer (log.h) ------------------------------------------ */

int
log_json_on(void)
{
	return log_format == LOG_FORMAT_JSON;
}

/* Bytes free for a member: what closing and ending the line need is kept
 * back, so whatever fits, the line can still be closed. */
static size_t
log_json_room(const struct log_json *j)
{
	size_t keep = j->lj_len + LOG_JSON_KEEP;

	return j->lj_size > keep ? j->lj_size - keep : 0;
}

/* n bytes of s, which the caller has made room for. */
static void
log_json_put(struct log_json *j, const char *s, size_t n)
{
	memcpy(j->lj_buf + j->lj_len, s, n);
	j->lj_len += n;
	j->lj_buf[j->lj_len] = '\0';
}

/* Back to mark: the member begun there did not fit. */
static void
log_json_undo(struct log_json *j, size_t mark)
{
	j->lj_len = mark;
	j->lj_buf[mark] = '\0';
	j->lj_cut = 1;
}

/* s quoted and escaped, or -1 (nothing kept) when all of it does not
 * fit: a value is never cut short (a cut "warn" would read "w"). */
static int
log_json_quote(struct log_json *j, const char *s)
{
	size_t	mark = j->lj_len, used, n;

	if (log_json_room(j) < 2)
		return -1;
	log_json_put(j, "\"", 1);
	/* The room left holds the text and its closing quote. */
	n = log_json_escape(j->lj_buf + j->lj_len, log_json_room(j) + 1, s,
	    &used);
	if (s[used] != '\0') {
		log_json_undo(j, mark);
		return -1;
	}
	j->lj_len += n;
	log_json_put(j, "\"", 1);
	return 0;
}

/* The comma and "key": of a new member (key NULL: an array's element).
 * Sets *mark; -1 with nothing written if it does not fit. */
static int
log_json_member(struct log_json *j, const char *key, size_t *mark)
{
	*mark = j->lj_len;
	if (j->lj_dead > 0)
		return -1;
	if (j->lj_more & 1u << j->lj_depth) {
		if (log_json_room(j) < 1)
			goto fail;
		log_json_put(j, ",", 1);
	}
	if (key != NULL) {
		if (log_json_quote(j, key) == -1 || log_json_room(j) < 1)
			goto fail;
		log_json_put(j, ":", 1);
	}
	return 0;
fail:
	log_json_undo(j, *mark);
	return -1;
}

/* A value of len bytes (text, already JSON) as the member key. */
static void
log_json_value(struct log_json *j, const char *key, const char *text,
    size_t len)
{
	size_t mark;

	if (log_json_member(j, key, &mark) == -1)
		return;
	if (log_json_room(j) < len) {
		log_json_undo(j, mark);
		return;
	}
	log_json_put(j, text, len);
	j->lj_more |= 1u << j->lj_depth;
}

void
log_json_str(struct log_json *j, const char *key, const char *value)
{
	size_t mark;

	if (value == NULL) {
		log_json_value(j, key, "null", 4);
		return;
	}
	if (log_json_member(j, key, &mark) == -1)
		return;
	if (log_json_quote(j, value) == -1) {
		log_json_undo(j, mark);
		return;
	}
	j->lj_more |= 1u << j->lj_depth;
}

void
log_json_int(struct log_json *j, const char *key, long long value)
{
	char	num[24];
	int	n = snprintf(num, sizeof(num), "%lld", value);

	log_json_value(j, key, num, (size_t)n);
}

void
log_json_raw(struct log_json *j, const char *key, const char *json)
{
	log_json_value(j, key, json, strlen(json));
}

/* Open an object or an array (close: its last byte). An open that does
 * not fit makes a dead subtree: everything up to its end is left out. */
static void
log_json_open(struct log_json *j, const char *key, const char *open)
{
	size_t mark;

	if (j->lj_dead > 0 || j->lj_depth + 1 >= LOG_JSON_DEPTH) {
		j->lj_cut = 1;
		j->lj_dead++;
		return;
	}
	if (log_json_member(j, key, &mark) == -1 || log_json_room(j) < 1) {
		log_json_undo(j, mark);
		j->lj_dead++;
		return;
	}
	log_json_put(j, open, 1);
	j->lj_was[j->lj_depth + 1] = j->lj_more & 1u << j->lj_depth;
	j->lj_more |= 1u << j->lj_depth;
	j->lj_mark[++j->lj_depth] = mark;
	j->lj_close[j->lj_depth] = open[1];
	j->lj_more &= ~(1u << j->lj_depth);
}

void
log_json_object(struct log_json *j, const char *key)
{
	log_json_open(j, key, "{}");
}

void
log_json_array(struct log_json *j, const char *key)
{
	log_json_open(j, key, "[]");
}

void
log_json_end(struct log_json *j)
{
	int d = j->lj_depth;

	if (j->lj_dead > 0)
		j->lj_dead--;
	else if (d > 0 && j->lj_cut && !(j->lj_more & 1u << d)) {
		/* Empty for want of room: left out whole, as a member. */
		log_json_undo(j, j->lj_mark[d]);
		if (!j->lj_was[d])
			j->lj_more &= ~(1u << (d - 1));
		j->lj_depth--;
	} else if (d > 0)	/* its byte was kept back */
		log_json_put(j, &j->lj_close[j->lj_depth--], 1);
}

const char *
log_json_finish(struct log_json *j)
{
	j->lj_dead = 0;
	while (j->lj_depth > 0)
		log_json_end(j);
	return j->lj_buf;
}

int
log_json_write(struct log_json *j)
{
	log_json_finish(j);
	log_json_put(j, "\n", 1);	/* kept back too */
	return log_write(j->lj_buf, j->lj_len);
}

void
log_json_start(struct log_json *j, char *buf, size_t size,
    enum log_level level, const char *message)
{
	char stamp[40];

	memset(j, 0, sizeof(*j));
	j->lj_buf = buf;
	j->lj_size = size;
	buf[0] = '\0';
	log_stamp(stamp, sizeof(stamp));
	log_json_object(j, NULL);
	log_json_str(j, "@timestamp", stamp);
	log_json_object(j, "log");
	log_json_str(j, "level", level < LOG_LEVEL_MAX ?
	    log_level_names[level] : "info");
	log_json_end(j);
	log_json_str(j, "message", message);
	log_json_object(j, "ecs");
	log_json_str(j, "version", LOG_ECS_VERSION);
	log_json_end(j);
}

/* A message: to stderr (in JSON, the envelope alone, dataset
 * "estrad.event") unless to_stderr is 0, and to syslog when on. */
static void __attribute__((format(printf, 3, 0)))
log_vline(enum log_level level, int to_stderr, const char *fmt, va_list ap)
{
	char		 stamp[40], msg[LOG_MSG_MAX];
	/* The worst case: every byte of msg escaped as \u00XX. */
	char		 line[LOG_MSG_MAX * 6 + 256];
	struct log_json	 j;
	int		 n, saved = errno;

	if ((int)level > log_threshold || level >= LOG_LEVEL_MAX)
		return;
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		return;
	if (to_stderr && log_format == LOG_FORMAT_JSON) {
		log_json_start(&j, line, sizeof(line), level, msg);
		log_json_object(&j, "event");
		log_json_str(&j, "dataset", "estrad.event");
		log_json_end(&j);
		log_json_write(&j);
	} else if (to_stderr) {
		log_stamp(stamp, sizeof(stamp));
		n = snprintf(line, sizeof(line), "%s %s %s\n", stamp,
		    log_level_names[level], msg);
		if (n > 0)
			log_write(line, (size_t)n < sizeof(line) ? (size_t)n :
			    sizeof(line) - 1);
	}
	/* syslog stamps and ranks lines itself: only the message. */
	if (log_syslog_on)
		syslog(log_facility | log_level_syslog[level], "%s", msg);
	errno = saved;
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	log_vline(level, 1, fmt, ap);
}

void
log_text(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	int	json = log_format == LOG_FORMAT_JSON;

	if (json && !log_syslog_on)
		return;
	va_start(ap, fmt);
	log_vline(level, !json, fmt, ap);
	va_end(ap);
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
