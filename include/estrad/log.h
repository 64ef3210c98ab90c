/*
 * log: the daemon's only global state. Lines go to stderr (foreground,
 * containers). Nothing here ever formats a secret: callers pass only what
 * may be read by an operator.
 */
#ifndef ESTRAD_LOG_H
#define ESTRAD_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERR, LOG_LEVEL_WARN, LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG, LOG_LEVEL_MAX };

void log_init(enum log_level level);
int log_level_from_name(const char *name);	/* -1 if unknown */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Append OpenSSL's queued errors, then clear the queue. */
void log_ssl_errors(enum log_level level, const char *what);
/* Print to stderr and exit(1): start-up only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2),
    noreturn));

#define log_err(...)	log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
