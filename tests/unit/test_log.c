/*
 * test_log: what the log writes on stderr. JSON lines are objects of
 * exactly time, level and msg whose msg decodes (jansson, which insists on
 * UTF-8) to the message logged, whatever bytes it holds: quotes,
 * backslashes, control characters, invalid UTF-8 (each bad byte becomes
 * U+FFFD). The text format stays "TIME LEVEL MESSAGE". stderr is a
 * temporary file for the duration of each test. And log_quote, the one
 * escaper for outside bytes, row by row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "estrad/log.h"
#include "testpki.h"

#define FFFD	"\xef\xbf\xbd"

struct esc_case {
	const char	*name;
	const char	*msg;		/* as logged */
	const char	*want;		/* msg after JSON decoding */
};

static const struct esc_case esc_cases[] = {
	{ "plain", "listening on 127.0.0.1:8443",
	    "listening on 127.0.0.1:8443" },
	{ "quotes and backslashes", "reason=\"a \\\"b\\\"\" c\\",
	    "reason=\"a \\\"b\\\"\" c\\" },
	{ "newline, CR, tab", "a\nb\rc\td", "a\nb\rc\td" },
	{ "other control bytes", "x\x01y\x1fz\x7f", "x\x01y\x1fz\x7f" },
	{ "two-byte UTF-8", "caf\xc3\xa9", "caf\xc3\xa9" },
	{ "three-byte UTF-8", "\xe2\x82\xac 5", "\xe2\x82\xac 5" },
	{ "four-byte UTF-8", "key \xf0\x9f\x94\x92", "key \xf0\x9f\x94\x92" },
	{ "a stray byte", "bad \xff byte", "bad " FFFD " byte" },
	{ "a lone continuation byte", "a\x80z", "a" FFFD "z" },
	{ "overlong encoding", "\xc0\xaf", FFFD FFFD },
	{ "UTF-16 surrogate", "\xed\xa0\x80!", FFFD FFFD FFFD "!" },
	{ "beyond U+10FFFF", "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD },
	{ "truncated sequence at the end", "euro \xe2\x82",
	    "euro " FFFD FFFD },
	{ "empty", "", "" },
};

/* One JSON line: an object of exactly time, level, msg; returns it. */
static json_t *
parse_line(const char *line, size_t len, const char *level)
{
	json_error_t	 jerr;
	json_t		*obj = json_loadb(line, len, 0, &jerr);
	const char	*t;

	if (obj == NULL)
		fail_msg("not JSON (%s): %.*s", jerr.text, (int)len, line);
	assert_true(json_is_object(obj));
	assert_int_equal(json_object_size(obj), 3);
	assert_non_null(t = json_string_value(json_object_get(obj, "time")));
	/* 2026-01-02T03:04:05.678Z */
	assert_int_equal(strlen(t), 24);
	assert_int_equal(t[10], 'T');
	assert_int_equal(t[19], '.');
	assert_int_equal(t[23], 'Z');
	assert_string_equal(json_string_value(json_object_get(obj, "level")),
	    level);
	assert_true(json_is_string(json_object_get(obj, "msg")));
	return obj;
}

static void
test_json_escaping(void **state)
{
	char		*out, *line, *nl;
	size_t		 i = 0;

	log_init(LOG_LEVEL_INFO);
	log_configure(LOG_FORMAT_JSON, 0, 0, NULL);
	testpki_stderr_begin();
	for (i = 0; i < sizeof(esc_cases) / sizeof(esc_cases[0]); i++)
		log_info("%s", esc_cases[i].msg);
	out = testpki_stderr_end();
	for (i = 0, line = out; (nl = strchr(line, '\n')) != NULL;
	    i++, line = nl + 1) {
		json_t *obj;

		assert_true(i < sizeof(esc_cases) / sizeof(esc_cases[0]));
		print_message("case: %s\n", esc_cases[i].name);
		obj = parse_line(line, (size_t)(nl - line), "info");
		assert_string_equal(json_string_value(json_object_get(obj,
		    "msg")), esc_cases[i].want);
		json_decref(obj);
	}
	assert_int_equal(i, sizeof(esc_cases) / sizeof(esc_cases[0]));
	assert_string_equal(line, "");
	free(out);
	log_configure(LOG_FORMAT_TEXT, 0, 0, NULL);
}

/* Long messages: cut at the same length as text lines, still one object. */
static void
test_json_long(void **state)
{
	static char	 big[4096];
	char		*out, *nl;
	json_t		*obj;
	const char	*msg;

	log_configure(LOG_FORMAT_JSON, 0, 0, NULL);
	for (int fill = 0; fill < 3; fill++) {
		memset(big, "x\"\x01"[fill], sizeof(big) - 1);
		testpki_stderr_begin();
		log_warn("%s", big);
		out = testpki_stderr_end();
		assert_non_null(nl = strchr(out, '\n'));
		assert_string_equal(nl + 1, "");
		obj = parse_line(out, (size_t)(nl - out), "warn");
		msg = json_string_value(json_object_get(obj, "msg"));
		assert_int_equal(strlen(msg), 2047);
		assert_int_equal(strspn(msg, (char[]){ "x\"\x01"[fill], 0 }),
		    2047);
		json_decref(obj);
		free(out);
	}
	log_configure(LOG_FORMAT_TEXT, 0, 0, NULL);
}

#define TEXT_LINE	" info access id=abc reason=\"x\"\n"

static void
test_text_and_levels(void **state)
{
	char	*out;

	log_init(LOG_LEVEL_INFO);
	log_configure(LOG_FORMAT_TEXT, 0, 0, NULL);
	testpki_stderr_begin();
	log_debug("not shown");
	log_info("access id=abc reason=\"x\"");
	log_err("broken");
	out = testpki_stderr_end();
	/* TIME LEVEL MESSAGE, as every integration case greps it. */
	assert_int_equal(out[23], 'Z');
	assert_true(strncmp(out + 24, TEXT_LINE, strlen(TEXT_LINE)) == 0);
	assert_int_equal(strchr(out, '\n')[24], 'Z');
	assert_string_equal(strchr(out, '\n') + 26, "error broken\n");
	free(out);

	log_configure(LOG_FORMAT_JSON, 0, 0, NULL);
	testpki_stderr_begin();
	log_debug("not shown");
	log_init(LOG_LEVEL_DEBUG);
	log_debug("shown");
	out = testpki_stderr_end();
	assert_non_null(strstr(out,
	    "\"level\":\"debug\",\"msg\":\"shown\"}\n"));
	assert_null(strstr(out, "not shown"));
	free(out);
	log_init(LOG_LEVEL_INFO);
	log_configure(LOG_FORMAT_TEXT, 0, 0, NULL);
}

/*
 * log_quote, table by table: what stays, what becomes \xNN, where a
 * short buffer cuts (never inside an escape) and what it says it read.
 */
struct quote_case {
	const char	*name;
	const char	*in;
	size_t		 inlen;		/* bytes of in (NULs count) */
	size_t		 outlen;	/* buffer size given */
	int		 flags;
	const char	*want;
	size_t		 used;		/* bytes of in consumed */
};

#define Q(s)	s, sizeof(s) - 1
static const struct quote_case quote_cases[] = {
	{ "empty", Q(""), 8, LOG_QUOTE_TOKEN, "", 0 },
	{ "printable kept", Q("CN=lab-client,O=x"), 64, LOG_QUOTE_TOKEN,
	  "CN=lab-client,O=x", 17 },
	{ "space", Q("estrad lab RA"), 64, LOG_QUOTE_TOKEN,
	  "estrad\\x20lab\\x20RA", 13 },
	{ "quote and backslash", Q("a\"b\\c"), 64, LOG_QUOTE_TOKEN,
	  "a\\x22b\\x5cc", 5 },
	{ "a written escape stays distinct", Q("\\x41"), 64,
	  LOG_QUOTE_TOKEN, "\\x5cx41", 4 },
	{ "control bytes", Q("\x01\t\n\r\x1b[2J"), 64, LOG_QUOTE_TOKEN,
	  "\\x01\\x09\\x0a\\x0d\\x1b[2J", 8 },
	{ "NUL inside", Q("a\0b"), 64, LOG_QUOTE_TOKEN, "a\\x00b", 3 },
	{ "DEL", Q("x\x7f"), 64, LOG_QUOTE_TOKEN, "x\\x7f", 2 },
	{ "high bytes", Q("caf\xc3\xa9\xff\x80"), 64, LOG_QUOTE_TOKEN,
	  "caf\\xc3\\xa9\\xff\\x80", 7 },
	{ "prose keeps space, quote, backslash", Q("a \"b\" \\ c"), 64,
	  LOG_QUOTE_PROSE, "a \"b\" \\ c", 9 },
	{ "prose still escapes controls, DEL, high bytes",
	  Q("x\ny\x7f\xc3\xa9"), 64, LOG_QUOTE_PROSE,
	  "x\\x0ay\\x7f\\xc3\\xa9", 6 },
	{ "fits exactly", Q("abc"), 4, LOG_QUOTE_TOKEN, "abc", 3 },
	{ "cut by one", Q("abcd"), 4, LOG_QUOTE_TOKEN, "abc", 3 },
	{ "an escape fits exactly", Q("a\n"), 6, LOG_QUOTE_TOKEN,
	  "a\\x0a", 2 },
	{ "an escape one byte short is left out whole", Q("a\nb"), 5,
	  LOG_QUOTE_TOKEN, "a", 1 },
	{ "room for the NUL only", Q("abc"), 1, LOG_QUOTE_TOKEN, "", 0 },
};
#undef Q

static void
test_quote(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(quote_cases) / sizeof(quote_cases[0]);
	    i++) {
		const struct quote_case	*c = &quote_cases[i];
		char			 out[64];
		size_t			 used;

		print_message("case: %s\n", c->name);
		memset(out, 'Z', sizeof(out));
		used = log_quote(out, c->outlen, c->in, c->inlen, c->flags);
		assert_string_equal(out, c->want);
		assert_int_equal(used, c->used);
		/* Nothing written past the buffer it was given. */
		if (c->outlen < sizeof(out))
			assert_int_equal(out[c->outlen], 'Z');
	}
	/* No buffer at all: nothing read, nothing written. */
	assert_int_equal(log_quote(NULL, 0, "abc", 3, LOG_QUOTE_TOKEN), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_json_long),
		cmocka_unit_test(test_text_and_levels),
		cmocka_unit_test(test_quote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
