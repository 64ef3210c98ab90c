/*
 * log: the daemon's only global state. Lines go to stderr (foreground,
 * containers), as text or as one JSON object per line, and optionally to
 * syslog(3) as well. Nothing here ever formats a secret: callers pass only
 * what may be read by an operator. Safe from any thread: each line is one
 * write(2).
 */
#ifndef ESTRAD_LOG_H
#define ESTRAD_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "estrad/config.h"	/* enum log_format */

enum log_level { LOG_LEVEL_ERR, LOG_LEVEL_WARN, LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG, LOG_LEVEL_MAX };

/* The levels' names in enum log_level's order, NULL-terminated: the
 * config's "log_level" row reads them. */
extern const char *const log_level_names[];
/* "syslog_facility"'s names ("daemon", "user", ..., "local7"),
 * NULL-terminated; log_configure takes an index into it. */
extern const char *const log_facility_names[];

void log_init(enum log_level level);
/*
 * The format of the stderr lines, and whether every line also goes to
 * syslog(3) under facility (an index into log_facility_names; out of
 * range: daemon) and ident (NULL: "estrad"; copied, and fixed by the
 * first call that opens syslog). Called at start-up and again on a reload.
 */
void log_configure(enum log_format fmt, int use_syslog, int facility,
    const char *ident);
/* 1 if lines of level are written: skip the work of making one if not. */
int log_wants(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/*
 * In the text format, the same as log_msg. In the JSON format, only to
 * syslog (when on): for a line whose caller has just written its JSON
 * form with fields (log_json_*), so syslog keeps the text it always had.
 */
void log_text(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append OpenSSL's queued errors, then clear the queue. */
void log_ssl_errors(enum log_level level, const char *what);
/* Length of the well-formed UTF-8 sequence (RFC 3629) at p, a
 * NUL-terminated string, or 0 (an ASCII byte is not one). */
size_t log_utf8_len(const unsigned char *p);

/*
 * JSON lines with fields (log_format "json"): Elastic Common Schema
 * (ECS) names, nested objects, one object per line. A caller that has
 * fields of its own (the access line, the audit on stderr) asks
 * log_json_on(), builds its line with the writer below into a buffer of
 * its own and writes it with log_json_write(); every other line is
 * log_msg's, whose JSON form is the envelope alone with
 * "event":{"dataset":"estrad.event"}.
 *
 * The writer never gives invalid JSON: strings are escaped (RFC 8259 §7),
 * a byte that is not UTF-8 becomes U+FFFD, a member that does not fit is
 * left out whole (never cut short; an object left empty for want of room
 * goes too), lj_cut says so, and the room for closing every open object
 * is kept back from the start. Size buffers for the worst case (every
 * byte of outside text escaped as \u00XX, six bytes).
 */
#define LOG_JSON_DEPTH	8	/* objects and arrays open at once */

struct log_json {
	char		*lj_buf;
	size_t		 lj_size;
	size_t		 lj_len;	/* lj_buf[lj_len] is '\0' */
	int		 lj_depth;
	int		 lj_dead;	/* opens that did not fit, not closed */
	unsigned	 lj_more;	/* bit d: depth d has a member */
	char		 lj_close[LOG_JSON_DEPTH];	/* '}' or ']' */
	size_t		 lj_mark[LOG_JSON_DEPTH];	/* where it began */
	unsigned char	 lj_was[LOG_JSON_DEPTH];	/* parent's more bit */
	int		 lj_cut;	/* a member was left out */
};

/* 1 if stderr lines are JSON: build fields only then. */
int log_json_on(void);
/*
 * Start a line in buf (size > 64): "{" and the envelope: "@timestamp"
 * (RFC 3339, UTC, milliseconds), "log":{"level"}, "message", "ecs":
 * {"version"}. The caller adds "event":{"dataset":...} and its fields.
 */
void log_json_start(struct log_json *j, char *buf, size_t size,
    enum log_level level, const char *message);
/* A member (key) of the open object, or an element (key NULL) of the
 * open array. A NULL string is null. */
void log_json_str(struct log_json *j, const char *key, const char *value);
void log_json_int(struct log_json *j, const char *key, long long value);
/* json: a JSON value already valid (jansson's output), copied as is. */
void log_json_raw(struct log_json *j, const char *key, const char *json);
void log_json_object(struct log_json *j, const char *key);
void log_json_array(struct log_json *j, const char *key);
void log_json_end(struct log_json *j);
/* Close what is open, end the line, write it (one write(2)) whatever the
 * level threshold. 0, or -1 with errno when stderr refuses it. */
int log_json_write(struct log_json *j);
/* Close what is open; the line (no newline) is j->lj_buf. */
const char *log_json_finish(struct log_json *j);

/*
 * At most one line a second about a flood (refused or timed-out
 * connections): a flood of events must not become a flood of lines.
 * log_throttle() says whether to log now (1) or count the event (0); when
 * 1, more holds " (N more since the last such line)" or "". Zeroed
 * before first use.
 */
struct log_throttle {
	int64_t		lt_logged_ms;	/* monotonic; 0: never */
	unsigned long	lt_skipped;
};
int log_throttle(struct log_throttle *t, char *more, size_t morelen);
/*
 * log_quote: bytes from outside (a client's, a CA's, a file's) made fit
 * for a log line, a config error or a refusal reason. One rule:
 *   - LOG_QUOTE_TOKEN (0): a byte from 0x21 to 0x7e other than '"' and the
 *     backslash is copied; every other byte (space, '"', '\\', control bytes, DEL,
 *     bytes >= 0x80) is written as \xNN, lowercase hex. The result is one
 *     token: it stands bare in a key=value field or inside "...", in text
 *     and (after log.c's own JSON escaping) in JSON lines; it never ends a
 *     quote, a field or a line, and reads back unambiguously since a
 *     backslash only ever starts an escape.
 *   - LOG_QUOTE_PROSE: a whole sentence we composed around outside bytes
 *     (a config error), whose own spaces and quotes must stay: space and
 *     every byte up to 0x7e are copied as well; still one line, no
 *     terminal escapes.
 * Reads inlen bytes of in (NULs included, escaped); writes out, always
 * NUL-terminated when outlen > 0, never splitting an escape. Returns the
 * number of bytes of in consumed: less than inlen means out was too small.
 */
#define LOG_QUOTE_TOKEN	0
#define LOG_QUOTE_PROSE	1
size_t log_quote(char *out, size_t outlen, const void *in, size_t inlen,
    int flags);

/* Now as "2026-12-07T18:06:03.123Z": RFC 3339, UTC, milliseconds (every
 * log line's time, the audit record's). */
void log_stamp(char *out, size_t outlen);

/* Print to stderr and exit(1): start-up only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2),
    noreturn));

#define log_err(...)	log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
