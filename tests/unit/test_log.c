/*
 * test_log: what the log writes on stderr. JSON lines are objects in
 * Elastic Common Schema's names: exactly "@timestamp", log.level,
 * message, ecs.version and event.dataset "estrad.event", whose message
 * decodes (jansson, which insists on UTF-8) to the message logged,
 * whatever bytes it holds: quotes, backslashes, control characters,
 * invalid UTF-8 (each bad byte becomes U+FFFD). The text format stays
 * "TIME LEVEL MESSAGE"; log_text writes only in it. The JSON writer
 * (log_json_*), table by table: every buffer size gives valid JSON, what
 * does not fit is left out whole. stderr is a temporary file for the
 * duration of each test. And log_quote, the one escaper for outside
 * bytes, row by row.
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

/* The string at a path of nested objects ("log", "level"), or NULL. */
static const char *
get_str(const json_t *obj, const char *outer, const char *inner)
{
	const json_t *o = json_object_get(obj, outer);

	return json_string_value(inner != NULL ? json_object_get(o, inner) :
	    o);
}

/* One JSON line: the envelope of an event line, exactly; returns it. */
static json_t *
parse_line(const char *line, size_t len, const char *level)
{
	json_error_t	 jerr;
	json_t		*obj = json_loadb(line, len, 0, &jerr);
	const char	*t;

	if (obj == NULL)
		fail_msg("not JSON (%s): %.*s", jerr.text, (int)len, line);
	assert_true(json_is_object(obj));
	assert_int_equal(json_object_size(obj), 5);
	assert_non_null(t = get_str(obj, "@timestamp", NULL));
	/* 2026-01-02T03:04:05.678Z */
	assert_int_equal(strlen(t), 24);
	assert_int_equal(t[10], 'T');
	assert_int_equal(t[19], '.');
	assert_int_equal(t[23], 'Z');
	assert_string_equal(get_str(obj, "log", "level"), level);
	assert_non_null(get_str(obj, "ecs", "version"));
	assert_string_equal(get_str(obj, "event", "dataset"), "estrad.event");
	assert_true(json_is_string(json_object_get(obj, "message")));
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
		assert_string_equal(get_str(obj, "message", NULL),
		    esc_cases[i].want);
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
		msg = get_str(obj, "message", NULL);
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
	assert_non_null(strstr(out, "\"log\":{\"level\":\"debug\"},"
	    "\"message\":\"shown\","));
	assert_null(strstr(out, "not shown"));
	free(out);
	log_init(LOG_LEVEL_INFO);
	log_configure(LOG_FORMAT_TEXT, 0, 0, NULL);
}

/* log_text: the text line in the text format, nothing on stderr in JSON
 * (its caller wrote the JSON line with fields). */
static void
test_log_text(void **state)
{
	char *out;

	(void)state;
	log_configure(LOG_FORMAT_TEXT, 0, 0, NULL);
	testpki_stderr_begin();
	log_text(LOG_LEVEL_INFO, "access id=%s", "t1");
	out = testpki_stderr_end();
	assert_string_equal(out + 24, " info access id=t1\n");
	free(out);
	log_configure(LOG_FORMAT_JSON, 0, 0, NULL);
	assert_true(log_json_on());
	testpki_stderr_begin();
	log_text(LOG_LEVEL_INFO, "access id=%s", "t2");
	out = testpki_stderr_end();
	assert_string_equal(out, "");
	free(out);
	log_configure(LOG_FORMAT_TEXT, 0, 0, NULL);
	assert_false(log_json_on());
}

/*
 * The writer: one fixed sequence of members, nested objects and an
 * array, hostile strings among them, written into buffers of every size
 * from 64 bytes up. Each result is valid JSON (jansson, strict UTF-8);
 * with room enough it is exactly WRITER_FULL.
 */
static void
writer_fill(struct log_json *j)
{
	log_json_object(j, "event");
	log_json_str(j, "dataset", "estrad.test");
	log_json_int(j, "duration", -1234567890123LL);
	log_json_end(j);
	log_json_object(j, "user");
	log_json_str(j, "name", "a\"b\\c\x01" "d\xff" "e\xc3\xa9");
	log_json_str(j, "none", NULL);
	log_json_end(j);
	log_json_array(j, "rules");
	log_json_str(j, NULL, "key.type");
	log_json_str(j, NULL, "san.dns");
	log_json_object(j, NULL);
	log_json_raw(j, "raw", "{\"x\":[1,2]}");
	log_json_end(j);
	log_json_end(j);
	log_json_str(j, "reason", "the last member, and a long one at that");
}

#define WRITER_FULL "\"event\":{\"dataset\":\"estrad.test\"," \
	"\"duration\":-1234567890123},\"user\":{\"name\":" \
	"\"a\\\"b\\\\c\\u0001d\\ufffde\xc3\xa9\",\"none\":null}," \
	"\"rules\":[\"key.type\",\"san.dns\",{\"raw\":{\"x\":[1,2]}}]," \
	"\"reason\":\"the last member, and a long one at that\"}"

static void
test_json_writer(void **state)
{
	char		 buf[1024];
	struct log_json	 j;
	json_error_t	 jerr;
	const char	*line;
	size_t		 full = 0;

	(void)state;
	for (size_t size = 64; size <= sizeof(buf); size++) {
		json_t *obj;

		memset(buf, 'Z', sizeof(buf));
		log_json_start(&j, buf, size, LOG_LEVEL_WARN, "m");
		writer_fill(&j);
		line = log_json_finish(&j);
		/* Nothing past the buffer, and it ends where it says. */
		if (size < sizeof(buf))
			assert_int_equal(buf[size], 'Z');
		assert_int_equal(strlen(line), j.lj_len);
		if ((obj = json_loads(line, 0, &jerr)) == NULL)
			fail_msg("size %zu: not JSON (%s): %s", size,
			    jerr.text, line);
		/* A member is there whole or not at all. */
		if (json_object_get(obj, "log") != NULL)
			assert_string_equal(get_str(obj, "log", "level"),
			    "warn");
		json_decref(obj);
		if (!j.lj_cut && full == 0)
			full = size;
		/* Once it fits, it fits in any bigger buffer. */
		assert_true(full == 0 || !j.lj_cut);
		if (!j.lj_cut)
			assert_non_null(strstr(line, WRITER_FULL));
	}
	/* The whole line, and room for its '\n' and NUL, fit at last. */
	assert_true(full > 0 && full < sizeof(buf));
}

/* Deeper than LOG_JSON_DEPTH: the deep part is left out, the rest stays
 * valid and the line goes on. */
static void
test_json_writer_depth(void **state)
{
	char		 buf[512];
	struct log_json	 j;
	json_t		*obj;

	(void)state;
	log_json_start(&j, buf, sizeof(buf), LOG_LEVEL_INFO, "deep");
	for (int d = 0; d < LOG_JSON_DEPTH + 3; d++)
		log_json_object(&j, "d");
	log_json_int(&j, "n", 1);
	for (int d = 0; d < LOG_JSON_DEPTH + 3; d++)
		log_json_end(&j);
	log_json_str(&j, "after", "kept");
	assert_non_null(obj = json_loads(log_json_finish(&j), 0, NULL));
	assert_true(j.lj_cut);
	assert_string_equal(get_str(obj, "after", NULL), "kept");
	json_decref(obj);
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
		cmocka_unit_test(test_log_text),
		cmocka_unit_test(test_json_writer),
		cmocka_unit_test(test_json_writer_depth),
		cmocka_unit_test(test_quote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
